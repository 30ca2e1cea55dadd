"""Builds the gazetteer (first_names.txt, last_names.txt, places.txt) from the person-name lists
that the Faker package (PyPI `faker`, MIT licence) ships for Finnish, Swedish and other locales,
and from its Finnish and Swedish municipality lists.

    python3 -m venv /tmp/fk && /tmp/fk/bin/pip install faker==40.54.0
    /tmp/fk/bin/python crates/dl-redact/data/build_gazetteer.py

Only Latin-script names (text here is Finnish, Swedish or English). The names of a few other
locales (UNSEEN) that are in none of the gazetteer's go to unseen_*.txt, not compiled in: the
labelled corpus (corpus/generate_people.py) draws a quarter of its names from them, so its
recall also measures names the detector has never seen.
"""
import importlib
import os
import unicodedata

LOCALES = [
    "fi_FI", "sv_SE", "en_US", "en_GB", "en_IE", "no_NO", "da_DK", "et_EE", "de_DE",
    "fr_FR", "es_ES", "it_IT", "pl_PL", "lt_LT", "lv_LV", "tr_TR", "pt_PT", "nl_NL",
    "cs_CZ", "hu_HU", "ro_RO", "hr_HR", "sk_SK", "sl_SI", "vi_VN", "id_ID", "sw", "is_IS",
]
UNSEEN = ["ga_IE", "yo_NG", "ig_NG", "ha_NG", "zu_ZA", "tw_GH", "az_AZ", "en_KE", "en_NG",
          "en_IN", "es_MX", "pt_BR"]
HERE = os.path.dirname(os.path.abspath(__file__))


def latin(name):
    return name[:1].isupper() and all(
        c in "-'" or (c.isalpha() and "LATIN" in unicodedata.name(c, "")) for c in name
    )


def names(locale, attrs):
    mod = importlib.import_module(f"faker.providers.person.{locale}")
    out = set()
    for attr in attrs:
        for n in getattr(mod.Provider, attr, ()) or ():
            for part in n.replace(" ", "-").split("-") if attr.startswith("last") else [n]:
                if len(part) >= 2 and latin(part):
                    out.add(part)
    return out


def main():
    first, last, unseen_first, unseen_last = set(), set(), set(), set()
    firsts = ["first_names", "first_names_female", "first_names_male"]
    lasts = ["last_names", "last_names_female", "last_names_male"]
    for loc in LOCALES:
        first |= names(loc, firsts)
        last |= names(loc, lasts)
    for loc in UNSEEN:
        unseen_first |= names(loc, firsts)
        unseen_last |= names(loc, lasts)
    known = first | last
    for fname, items in (("first_names.txt", first), ("last_names.txt", last),
                         ("unseen_first_names.txt", unseen_first - known),
                         ("unseen_last_names.txt", unseen_last - known)):
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in sorted(items)))
        print(fname, len(items))
    places = set()
    for loc in ("fi_FI", "sv_SE"):
        mod = importlib.import_module(f"faker.providers.address.{loc}")
        places |= {c for c in mod.Provider.cities if latin(c.replace(" ", "-"))}
    with open(os.path.join(HERE, "places.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in sorted(places)))
    print("places.txt", len(places))


if __name__ == "__main__":
    main()
