"""Licence page rendering: a warm renderer (steady state, one process) against a fresh
renderer and font per page, beside raw ECDSA P-256 signs per second in the same run.

    .venv/bin/python -m bench.render [--quick]

Documents cycle through every licence type, with distinct holder names, numbers and a
QR payload shaped like a compact JWS (560 characters), so the font subset, the table
and the QR code differ from page to page as in bulk issuance.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import itertools
import random
import statistics
import time
from pathlib import Path

import pylopdf_fonts_zh_cn

from bench.common import Row, print_table, rate, raw_ecdsa_sign_rate
from licence_registry.catalogue import load_catalogue
from seal_service.fonts import CjkFont
from seal_service.render import LicenceDocument, PdfLicenceRenderer

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红建文辉宇鑫琳晨浩然子轩梓"
    "涵一诺欣怡雨泽博思睿嘉懿佳琪俊熙昊天瑶婷雪峰志国庆海燕春梅"
)
TRADES = "科技信息网络餐饮贸易文化传媒咨询服务建筑工程物流医药食品农业教育"
PAYLOAD_CHARS = 560


def _payload(rng: random.Random) -> str:
    def part(size: int) -> str:
        return base64.urlsafe_b64encode(rng.randbytes(size)).decode().rstrip("=")

    return f"{part(28)}.{part(350)}.{part(64)}"[:PAYLOAD_CHARS]


def documents(count: int, seed: int = 7) -> list[LicenceDocument]:
    rng = random.Random(seed)
    catalogue = load_catalogue()
    docs = []
    for i, name in zip(range(count), itertools.cycle(sorted(catalogue)), strict=False):
        kind = catalogue[name]
        person = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        legal_person = name != "no-criminal-record"
        holder = (
            f"杭州{''.join(rng.choices(GIVEN, k=2))}{''.join(rng.sample(TRADES, 4))}有限公司"
            if legal_person
            else person
        )
        fields = (
            {"legal_representative": person, "domicile": f"浙江省杭州市西湖区文三路{i}号"}
            if legal_person
            else {"purpose": "出国（境）留学"}
        )
        docs.append(
            LicenceDocument(
                title=kind.title,
                licence_number=f"{kind.type_code}{i:010d}",
                holder_name=holder,
                holder_id_label="统一社会信用代码" if legal_person else "公民身份号码",
                holder_id_display="91330100MA2CFXXX8K" if legal_person else "3301**********123X",
                issuing_department="杭州市市场监督管理局" if legal_person else "杭州市公安局",
                region_name="浙江省杭州市",
                issued_on=datetime.date(2026, 11, 23),
                valid_until=None if name == "business-licence" else datetime.date(2031, 11, 22),
                fields=fields,
                qr_payload=_payload(rng),
                licence_type=name,
            )
        )
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer documents, shorter runs")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    docs = documents(60 if args.quick else 300)
    font_path = Path(pylopdf_fonts_zh_cn.serif_path())

    started = time.perf_counter()
    renderer = PdfLicenceRenderer(CjkFont(font_path))
    first = renderer.render(docs[0])
    first_ms = (time.perf_counter() - started) * 1000
    sizes = [len(renderer.render(doc)) for doc in docs]  # also warms the glyph cache

    cycle = itertools.cycle(docs)
    warm = rate(lambda: renderer.render(next(cycle)), seconds=seconds)
    plain = [LicenceDocument(**{**vars(doc), "qr_payload": None}) for doc in docs]
    plain_cycle = itertools.cycle(plain)
    warm_no_qr = rate(lambda: renderer.render(next(plain_cycle)), seconds=seconds)

    naive_times = []
    for doc in docs[: 3 if args.quick else 8]:
        started = time.perf_counter()
        PdfLicenceRenderer(CjkFont(font_path)).render(doc)
        naive_times.append(time.perf_counter() - started)
    naive = 1 / statistics.median(naive_times)
    signs = raw_ecdsa_sign_rate()

    rows = [
        Row(
            "pages rendered/s, warm renderer",
            f"{warm:,.0f}/s",
            f"{1000 / warm:.1f} ms/page; steady state, one process, QR of {PAYLOAD_CHARS} chars",
        ),
        Row("  ... without a QR code", f"{warm_no_qr:,.0f}/s", f"{1000 / warm_no_qr:.1f} ms/page"),
        Row(
            "pages rendered/s, naive (fresh renderer + font per page)",
            f"{naive:,.1f}/s",
            f"{1000 / naive:.0f} ms/page, median of {len(naive_times)}",
        ),
        Row("first page of a new renderer", f"{first_ms:,.0f} ms", "font load + outlines"),
        Row(
            "PDF size per licence",
            f"{statistics.median(sizes) / 1024:.1f} KB",
            f"median; {min(sizes) / 1024:.1f}-{max(sizes) / 1024:.1f} KB over {len(sizes)} "
            f"pages; first {len(first) / 1024:.1f} KB",
        ),
        Row("raw ECDSA P-256 signs/s", f"{signs:,.0f}/s", "same run, one core"),
    ]
    print_table("Licence rendering (bench/render.py)", rows)


if __name__ == "__main__":
    main()
