"""GB/T 4754-2017 industry codes (国民经济行业分类) and the industry mix of Shanxi's zones."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Section letter -> the range of its two-digit divisions (门类 -> 大类).
SECTIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5),  # 农、林、牧、渔业
    "B": (6, 12),  # 采矿业
    "C": (13, 43),  # 制造业
    "D": (44, 46),  # 电力、热力、燃气及水生产和供应业
    "E": (47, 50),  # 建筑业
    "F": (51, 52),  # 批发和零售业
    "G": (53, 60),  # 交通运输、仓储和邮政业
    "H": (61, 62),  # 住宿和餐饮业
    "I": (63, 65),  # 信息传输、软件和信息技术服务业
    "J": (66, 69),  # 金融业
    "K": (70, 70),  # 房地产业
    "L": (71, 72),  # 租赁和商务服务业
    "M": (73, 75),  # 科学研究和技术服务业
    "N": (76, 79),  # 水利、环境和公共设施管理业
    "O": (80, 82),  # 居民服务、修理和其他服务业
    "P": (83, 83),  # 教育
    "Q": (84, 85),  # 卫生和社会工作
    "R": (86, 90),  # 文化、体育和娱乐业
    "S": (91, 96),  # 公共管理、社会保障和社会组织
    "T": (97, 97),  # 国际组织
}
_SHAPE = re.compile(r"([A-T])([0-9]{2,4})")
# Sections whose enterprises report industrial output (工业: mining, manufacturing, utilities).
INDUSTRIAL_SECTIONS = frozenset("BCD")


def is_valid_industry_code(code: object) -> bool:
    """Whether a value is a section letter plus 2–4 digits whose division lies in that section."""
    if not isinstance(code, str):
        return False
    match = _SHAPE.fullmatch(code)
    if match is None:
        return False
    low, high = SECTIONS[match[1]]
    return low <= int(match[2][:2]) <= high


@dataclass(frozen=True)
class Cluster:
    """A group of related industries: its classes, the words its firm names use and how much of
    each indicator a firm of this group carries relative to its revenue share."""

    name: str
    codes: tuple[str, ...]
    name_words: tuple[str, ...]
    # indicator code -> intensity (1 = in proportion to size)
    intensity: dict[str, float]
    # chance that a firm reports R&D expense above zero, and energy consumption at all
    rd_share: float
    energy_share: float


# Real 4-digit classes (小类) of GB/T 4754-2017.
CLUSTERS: tuple[Cluster, ...] = (
    Cluster(
        "coal_chemistry",
        ("B0610", "C2521", "C2522", "C2523", "C2614", "C2619", "C2621", "C2651"),
        ("煤化工", "焦化", "化工", "能源化工", "煤业"),
        {
            "energy_consumption": 4.0,
            "electricity_consumption": 2.0,
            "rd_expenditure": 0.6,
            "employees": 0.7,
            "land_area": 2.2,
            "tax_revenue": 1.2,
        },
        rd_share=0.45,
        energy_share=0.9,
    ),
    Cluster(
        "new_materials",
        ("C3091", "C3340", "C3316", "C3140", "C3130", "C3062", "C3985"),
        ("新材料", "材料科技", "碳素", "镁业", "铝业", "特钢"),
        {
            "energy_consumption": 2.5,
            "electricity_consumption": 2.6,
            "rd_expenditure": 1.0,
            "employees": 0.9,
            "land_area": 1.6,
        },
        rd_share=0.6,
        energy_share=0.8,
    ),
    Cluster(
        "equipment",
        ("C3411", "C3511", "C3441", "C3715", "C3821", "C3825", "C3670", "C3612", "C3841"),
        ("装备制造", "重工", "机械", "智能装备", "机电"),
        {
            "energy_consumption": 0.6,
            "electricity_consumption": 0.8,
            "rd_expenditure": 1.3,
            "employees": 1.3,
            "land_area": 1.1,
        },
        rd_share=0.65,
        energy_share=0.6,
    ),
    Cluster(
        "electronics",
        ("C3971", "C3973", "C3976", "C3981", "C3982", "C3983", "C3911"),
        ("电子科技", "半导体", "光电", "微电子", "信息科技"),
        {
            "energy_consumption": 0.3,
            "electricity_consumption": 1.3,
            "rd_expenditure": 2.0,
            "employees": 1.5,
            "land_area": 0.6,
        },
        rd_share=0.75,
        energy_share=0.5,
    ),
    Cluster(
        "energy",
        ("D4411", "D4412", "D4415", "D4416", "D4430", "D4511"),
        ("电力", "热电", "新能源", "能源", "燃气"),
        {
            "energy_consumption": 3.0,
            "electricity_consumption": 0.6,
            "rd_expenditure": 0.4,
            "employees": 0.5,
            "land_area": 1.5,
            "tax_revenue": 1.3,
        },
        rd_share=0.35,
        energy_share=0.95,
    ),
    Cluster(
        "services",
        ("I6513", "I6531", "I6550", "M7320", "M7484", "M7520", "G5920", "G5821", "L7212", "F5161"),
        ("科技", "信息技术", "软件", "物流", "技术服务", "商贸"),
        {
            "energy_consumption": 0.05,
            "electricity_consumption": 0.2,
            "rd_expenditure": 1.2,
            "employees": 1.6,
            "land_area": 0.15,
            "tax_revenue": 0.9,
        },
        rd_share=0.4,
        energy_share=0.15,
    ),
)
# Typical share of each cluster among a zone's firms before a zone's own tilt.
BASE_MIX = (0.2, 0.2, 0.2, 0.12, 0.06, 0.22)
