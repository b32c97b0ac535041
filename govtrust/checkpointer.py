"""Checkpoints on a timer: a region's log is checkpointed within seconds of growing, with
one signature per checkpoint rather than one per entry. Every server process runs this;
`checkpoint_if_due` makes sure one size is signed once."""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from ca.profiles import REGION_CA
from ca.registry import list_authorities
from govtrust.runtime import Runtime
from licence_registry.transparency import LogCheckpoint, UnknownLog, checkpoint_if_due

log = logging.getLogger("govtrust.checkpointer")
INTERVAL_SECONDS = 1.0


def checkpoint_all(runtime: Runtime) -> list[LogCheckpoint]:
    """Sign what is due in every region whose log key this server holds."""
    with runtime.database.transaction() as session:
        regions = [a.code for a in list_authorities(session) if a.profile == REGION_CA.name]
    signed = []
    for region in regions:
        try:
            signer = runtime.log_signer(region)
        except UnknownLog:
            continue
        checkpoint = checkpoint_if_due(runtime.database.transaction, signer, region)
        if checkpoint is not None:
            signed.append(checkpoint)
    return signed


async def run_checkpointer(runtime: Runtime, interval: float = INTERVAL_SECONDS) -> None:
    """Until cancelled; a failure is logged and tried again next time, never fatal."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(checkpoint_all, runtime)
        except Exception:
            log.exception("checkpointing failed; trying again in %s s", interval)
