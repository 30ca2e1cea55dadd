"""Builds the gazetteer (first_names.txt, last_names.txt, places.txt) from the person-name lists that
the Faker package (PyPI `faker`, MIT licence) ships for Finnish, Swedish and other locales, and the Finnish and Swedish municipality lists it ships.

    python3 -m venv /tmp/fk && /tmp/fk/bin/pip install faker==40.54.0
    /tmp/fk/bin/python crates/dl-redact/data/build_gazetteer.py

Only Latin-script names (text here is Finnish, Swedish or English). A fixed fifth of the names
(by SHA-256 of the name) is held out: the labelled corpus (corpus/generate_people.py) draws
names from both parts, so its recall also measures names the gazetteer has never seen.
"""
import hashlib
import importlib
import os
import unicodedata

LOCALES = [
    "fi_FI", "sv_SE", "en_US", "en_GB", "en_IE", "no_NO", "da_DK", "et_EE", "de_DE",
    "fr_FR", "es_ES", "it_IT", "pl_PL", "lt_LT", "lv_LV", "tr_TR", "pt_PT", "nl_NL",
    "cs_CZ", "hu_HU", "ro_RO", "hr_HR", "sk_SK", "sl_SI", "vi_VN", "id_ID", "sw",
]
HERE = os.path.dirname(os.path.abspath(__file__))


def latin(name):
    return name[:1].isupper() and all(
        c in "-'" or (c.isalpha() and "LATIN" in unicodedata.name(c, "")) for c in name
    )


def held_out(name):
    return hashlib.sha256(name.encode()).digest()[0] % 5 == 0


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
    first, last = set(), set()
    for loc in LOCALES:
        first |= names(loc, ["first_names", "first_names_female", "first_names_male"])
        last |= names(loc, ["last_names", "last_names_female", "last_names_male"])
    for fname, items in (("first_names.txt", first), ("last_names.txt", last)):
        kept = sorted(n for n in items if not held_out(n))
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in kept))
        with open(os.path.join(HERE, "held_out_" + fname), "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in sorted(n for n in items if held_out(n))))
        print(fname, len(kept), "kept,", len(items) - len(kept), "held out")
    places = set()
    for loc in ("fi_FI", "sv_SE"):
        mod = importlib.import_module(f"faker.providers.address.{loc}")
        places |= {c for c in mod.Provider.cities if latin(c.replace(" ", "-"))}
    with open(os.path.join(HERE, "places.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in sorted(places)))
    print("places.txt", len(places))


if __name__ == "__main__":
    main()
