from govtrust.cli import main

main()
