#!/usr/bin/env python3
"""Generates the labelled Finnish/Swedish/English corpus of names, addresses and the other
personal data that is not a checksummed identifier (people.jsonl), with hard negatives.

Deterministic (fixed seeds): `python3 generate_people.py > people.jsonl` reproduces the committed
file with the gazetteer of its first part (see main); the last 300 lines (p1260-p1559, issue 12's
held-out follow-up: passports of several countries, Swedish town names, English streets without a
street word, Vietnamese names, Finnish local cases, companies and holidays named after people,
word-like first names) come from `python3 generate_people.py --part2`. Same line format as labelled.jsonl; here every personal datum is labelled (names,
addresses, dates of birth, plates, passports, old-format accounts, VAT ids and the identifiers),
so the corpus test can also measure the share of personal-data characters left visible.

Names: three in four from the gazetteer (../data/first_names.txt, last_names.txt), one in four
from locales the gazetteer does not cover (../data/unseen_*.txt: Irish, Nigerian, Zulu, Twi,
Azerbaijani, Kenyan, Indian, Mexican and Brazilian names it lacks), so recall also covers names
the detector has never seen. Identifiers are written in real-world spellings
(en dash, no-break spaces). Hard negatives: place names, company names (some are surnames),
streets used as landmarks, law names, month names, decision dates, capitalised sentence starts.
"""
import json
import os
import random
import sys

import generate as g

R = random.Random(20261205)
g.R = R
HERE = os.path.dirname(os.path.abspath(__file__))


def lines(name):
    with open(os.path.join(HERE, "..", "data", name), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


FIRST, LAST = lines("first_names.txt"), lines("last_names.txt")
HELD_FIRST, HELD_LAST = lines("unseen_first_names.txt"), lines("unseen_last_names.txt")
PLACES = [p for p in lines("places.txt") if " " not in p]
FI_FIRST = ["Maija", "Matti", "Aino", "Juhani", "Liisa", "Pekka", "Sanna", "Ville", "Emma",
            "Oskari", "Helena", "Mikko", "Anneli", "Timo", "Eeva", "Jari", "Kaarina", "Jussi"]
FI_LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen",
           "Koskinen", "Järvinen", "Lehtonen", "Saarinen", "Salminen", "Heinonen", "Turunen"]
FI_STREET = ["Koivu", "Rauhan", "Kirkko", "Asema", "Puisto", "Mäki", "Ranta", "Myllyn", "Pappilan",
             "Kalevan", "Hämeen", "Satakunnan", "Lehtimäen", "Sibeliuksen"]
DIRECTION = ["Pohjoinen ", "Eteläinen ", "Itäinen ", "Läntinen ", "Vanha "]
FI_SUFFIX = ["katu", "tie", "kuja", "polku", "väylä", "raitti", "rinne", "kaari", "ranta"]
SV_STREET = ["Stor", "Kyrko", "Skol", "Järnvägs", "Strand", "Kvarn", "Ny", "Drottning", "Björk"]
SV_SUFFIX = ["gatan", "vägen", "stigen", "gränd", "backen"]
EN_STREET = ["Baker Street", "High Street", "Church Road", "Station Road", "Park Avenue",
             "Mill Lane", "Oak Drive"]
MONTHS_FI = ["tammikuuta", "helmikuuta", "maaliskuuta", "huhtikuuta", "toukokuuta", "kesäkuuta",
             "heinäkuuta", "elokuuta", "syyskuuta", "lokakuuta", "marraskuuta", "joulukuuta"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
MONTHS_SV = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
             "september", "oktober", "november", "december"]
COMPANIES = ["Nokia Oyj", "Kesko Oyj", "Stockmann", "Fazer", "Elisa Oyj", "Posti Group",
             "Ahlström", "Wärtsilä", "Hartwall", "Paulig", "Volvo", "Marimekko", "Ericsson AB",
             "Suomen Pankki", "Helsingin Sanomat", "Svenska Dagbladet", "Social Insurance Institution",
             "European Union", "Kansaneläkelaitos", "Verohallinto", "Skatteverket"]
LAWS = ["Asumistukilaki", "Sosiaalihuoltolaki", "Kansaneläkelaki", "Laki toimeentulotuesta",
        "Socialvårdslagen", "Bostadsbidragslagen", "the Data Protection Act", "Kuntalaki"]
LANDMARKS = ["Mannerheimintie", "Hämeenkatu", "Aleksanterinkatu", "Drottninggatan",
             "Esplanadi", "Kungsvägen", "Itäväylä", "Kehä I"]


def person(first_only=False):
    held = R.random() < 0.25
    if R.random() < 0.4 and not held:
        first, last = R.choice(FI_FIRST), R.choice(FI_LAST)
    else:
        first = R.choice(HELD_FIRST if held else FIRST)
        last = R.choice(HELD_LAST if held else LAST)
    return first if first_only else f"{first} {last}"


def genitive():
    first, last = R.choice(FI_FIRST), R.choice(FI_LAST)
    last = last[:-3] + "sen" if last.endswith("nen") else last + "n"
    return f"{first} {last}"


def surname_alone():
    """A Finnish -nen surname on its own, in the nominative or an inflected case."""
    last = R.choice([n for n in FI_LAST if n.endswith("nen")])
    stem = last[:-3] + "s"
    return R.choice([last, last, stem + "en", stem + "elle", stem + "ta"])


def street():
    kind = R.random()
    if kind < 0.55:
        s = f"{R.choice(DIRECTION) if R.random() < 0.15 else ''}{R.choice(FI_STREET)}{R.choice(FI_SUFFIX)}"
        n = f"{R.randrange(1, 120)}"
        n += R.choice(["", "", f" {R.choice('ABC')} {R.randrange(1, 40)}", f" as. {R.randrange(1, 60)}", "a"])
        city = R.choice(PLACES)
        tail = R.choice(["", f", {R.randrange(100, 99999):05d} {city}", f" {R.randrange(100, 99999):05d} {city}"])
        return f"{s} {n}{tail}"
    if kind < 0.85:
        s = f"{R.choice(SV_STREET)}{R.choice(SV_SUFFIX)} {R.randrange(1, 90)}"
        return s + R.choice(["", f", {R.randrange(10000, 99999)} {R.choice(PLACES)}", f" lgh {R.randrange(1000, 1400)}"])
    return f"{R.randrange(1, 400)} {R.choice(EN_STREET)}"


def postcity():
    return f"{R.randrange(100, 99999):05d} {R.choice(PLACES)}"


def dob(lang):
    y, m, d = R.randrange(1925, 2020), R.randrange(1, 13), R.randrange(1, 29)
    if lang == "fi":
        return R.choice([f"{d}.{m}.{y}", f"{d:02d}.{m:02d}.{y}", f"{d}. {MONTHS_FI[m - 1]} {y}"])
    if lang == "sv":
        return R.choice([f"{y}-{m:02d}-{d:02d}", f"{d} {MONTHS_SV[m - 1]} {y}"])
    return R.choice([f"{d} {MONTHS_EN[m - 1]} {y}", f"{MONTHS_EN[m - 1]} {d}, {y}", f"{d}/{m}/{y}"])


def plate():
    letters = "".join(R.choice("ABCDEFGHIJKLMNOPRSTUVXYZ") for _ in range(R.choice([2, 3, 3])))
    while letters in ("EU", "YK", "UN", "ISO", "SFS", "ALV", "MTV", "PDF", "HUS", "KKO", "KHO", "ETA", "TES", "YLE"):
        letters = "".join(R.choice("ABCDEFGHIJKLMNOPRSTUVXYZ") for _ in range(3))
    return f"{letters}-{R.randrange(1, 1000)}"


def passport():
    return "".join(R.choice("ABCDEFGHJKLMNPRSTUVXYZ") for _ in range(2)) + f"{R.randrange(10**6, 10**7):07d}"


def account():
    bank = R.choice(["1", "2", "3", "4", "5", "6", "8"]) + f"{R.randrange(10**4, 10**5)}"
    body = f"{R.randrange(10**5, 10**7)}"
    if bank[0] in "45":
        machine13 = bank + body[0] + "0" * (13 - len(bank) - len(body)) + body[1:]
    else:
        machine13 = bank + "0" * (13 - len(bank) - len(body)) + body
    check = g.luhn_digit(machine13)
    machine = machine13 + check
    if bank[0] in "45":
        rest = machine[6] + machine[7:].lstrip("0")
    else:
        rest = machine[6:].lstrip("0")
    return f"{bank}-{rest}"


def vat():
    if R.random() < 0.7:
        return "FI" + g.business_id().replace("-", "")
    payload = f"{R.randrange(10**8, 10**9)}"
    return f"SE{payload}{g.luhn_digit(payload)}01"


def spelled(value):
    """Real-world spellings: en dash or non-breaking hyphen for "-", no-break space for " "."""
    r = R.random()
    if r < 0.2:
        return value.replace("-", "\u2013")
    if r < 0.3:
        return value.replace("-", "\u2011")
    if r < 0.5:
        return value.replace(" ", "\u00a0")
    return value


ENTITY = {
    "name": ("PERSON_NAME", person), "fname": ("PERSON_NAME", lambda: person(True)),
    "gname": ("PERSON_NAME", genitive), "addr": ("STREET_ADDRESS", street),
    "postcity": ("STREET_ADDRESS", postcity), "plate": ("FI_VEHICLE_PLATE", plate),
    "passport": ("PASSPORT_NUMBER", passport), "account": ("FI_BANK_ACCOUNT", account),
    "vat": ("VAT_ID", vat), "surname": ("PERSON_NAME", surname_alone),
    "hetu": ("FI_PERSONAL_IDENTITY_CODE", lambda: spelled(g.hetu())),
    "iban": ("IBAN", lambda: spelled(g.iban())), "phone": ("PHONE", lambda: spelled(g.phone())),
    "email": ("EMAIL", g.email),
}
CONTEXT = {
    "place": lambda: R.choice(PLACES), "company": lambda: R.choice(COMPANIES),
    "law": lambda: R.choice(LAWS), "landmark": lambda: R.choice(LANDMARKS),
    "month_en": lambda: R.choice(MONTHS_EN), "date": g.date, "amount": g.amount,
    "case": g.case_number, "year": lambda: str(R.randrange(2015, 2027)),
}
TEMPLATES = [
    ("fi", "Asiakas {name} asuu osoitteessa {addr}."),
    ("fi", "Hakija {name}, syntynyt {dob}, hetu {hetu}."),
    ("fi", "{name} soitti {date} ja kertoi muuttavansa {place}."),
    ("fi", "Puhuin {gname} kanssa; hän asuu {postcity}."),
    ("fi", "Yhteyshenkilö: {name}, puh. {phone}."),
    ("fi", "Hakijan puoliso {name} omistaa auton {plate}."),
    ("fi", "Tuki maksetaan tilille {account} ({name})."),
    ("fi", "Toiminimen ALV-numero {vat}, yrittäjä {name}."),
    ("fi", "Passinumero {passport}, myönnetty {date}."),
    ("fi", "Lapsi {fname} aloittaa päiväkodin {date}."),
    ("fi", "Päätös tehtiin {date} ({law} 12 §), tuki {amount} €."),
    ("fi", "Työmaa {landmark} varrella hidastaa liikennettä {place}."),
    ("fi", "Hakemus saapui {date}; käsittelijä on {company}."),
    ("fi", "Asia {case} siirrettiin {place} kuntaan."),
    ("fi", "Sosiaalityöntekijä {name} tapasi asiakkaan {date}."),
    ("fi", "Vuokranantaja {name}, {addr}, IBAN {iban}."),
    ("fi", "Potilas {name} (s. {dob}) kotiutettiin {date}."),
    ("fi", "Toukokuussa {year} tulot olivat {amount} euroa."),
    ("fi", "Kela lähetti päätöksen osoitteeseen {addr}."),
    ("fi", "Edunvalvoja {name} ilmoitti sähköpostilla {email}."),
    ("fi", "{surname} soitti uudelleen {date}; toinen hakemus on kesken."),
    ("fi", "Lähetimme päätöksen {surname} {date}. Ensimmäinen päätös kumottiin."),
    ("sv", "Sökande {name} bor på {addr}."),
    ("sv", "Klienten {name}, född {dob}, har pass nr {passport}."),
    ("sv", "{name} ringde {date} från {phone}."),
    ("sv", "Beslutet fattades {date} enligt {law}."),
    ("sv", "Bilen {plate} ägs av {name}."),
    ("sv", "Företaget {company} har momsregistreringsnummer {vat}."),
    ("sv", "Postadress: {postcity}."),
    ("sv", "Vägarbetet på {landmark} pågår till {month_en}."),
    ("sv", "Kontaktperson {name}, e-post {email}."),
    ("sv", "Barnet {fname} bor hos modern i {place}."),
    ("en", "The applicant {name} lives at {addr}."),
    ("en", "{name}, born {dob}, passport number {passport}."),
    ("en", "Mr {name} called on {date} about case {case}."),
    ("en", "Payment to account {account} for {name} was returned."),
    ("en", "The office on {landmark} is closed in {month_en}."),
    ("en", "Decision under {law} issued by {company} on {date}."),
    ("en", "Contact {name} at {email} or {phone}."),
    ("en", "Vehicle {plate} registered to {name}, {postcity}."),
    ("en", "VAT number {vat} belongs to a sole trader, {name}."),
    ("en", "In {month_en} {year} the household moved to {place}."),
    ("en", "Spouse {fname} signed the form; id {hetu}."),
    ("en", "Landlord {name}, {addr}, account {iban}."),
]


def render(lang, template):
    text, entities = "", []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        key, _, rest = after.partition("}")
        text += before
        if key == "dob":
            code, value = "DATE_OF_BIRTH", dob(lang)
        elif key in ENTITY:
            code, make = ENTITY[key]
            value = make()
        else:
            text += CONTEXT[key]()
            continue
        start = len(text.encode())
        text += value
        entities.append({"entity": code, "start": start, "end": len(text.encode())})
    text += rest
    return {"lang": lang, "text": text, "entities": entities}


# --- second part (issue 12, held-out follow-up): the failure classes of the held-out corpora,
# with this corpus's own words. Appended after the first 1,260 lines, whose text stays as it was.
SV_TOWNS = [l.split("\t") for l in """10300\tKaris
06100\tBorgå
65100\tVasa
68600\tJakobstad
20100\tÅbo
02100\tEsbo
07900\tLovisa
21600\tPargas
66900\tNykarleby
00100\tHelsingfors
64200\tNärpes
10900\tHangö
33100\tTammerfors
90100\tUleåborg
01300\tVanda
28100\tBjörneborg""".split("\n")]
EN_WORDS = ["Cedar", "Rowan", "Heron", "Linden", "Abbey", "Kestrel", "Maple", "Saxon", "Primrose",
            "Fern", "Copper", "Thistle", "Sparrow", "Garnet"]
EN_TYPES = ["Grove", "Close", "Crescent", "Terrace", "Mews", "Row", "Way", "Walk", "Gardens",
            "Rise", "Green", "Parade", "Court", "Place"]
EN_CITIES = ["Sheffield S10 2TN", "Derby DE1 1AB", "Exeter EX4 4QJ", "Bath", "Cork"]
FI_SUFFIX2 = ["kierros", "mäki", "kumpu", "niitty", "piha", "kaarre", "porras", "linja"]
FI_STREET2 = ["Kotka", "Tilhen", "Suvi", "Paju", "Riihi", "Ahomansikan", "Hirsi", "Kettu"]
VI_FAMILY = ["Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Duong", "Ngo", "Ly",
             "Truong"]
VI_MID = ["Van", "Thi", "Minh", "Duc", "Quang", "Ngoc", "Xuan", "Huu"]
VI_GIVEN = ["An", "Binh", "Chau", "Dung", "Giang", "Hanh", "Khanh", "Linh", "Nam", "Phuong",
            "Trang", "Yen", "Tam", "Hieu"]
FI_LAST_VOWEL = ["Mäkelä", "Jokela", "Seppälä", "Kallio", "Hakala", "Anttila", "Lehto", "Niemi",
                 "Mattila", "Rautio", "Kivelä", "Ojala"]
HOLIDAY_PEOPLE = ["Runebergin", "Snellmanin", "Agricolan", "Canthin", "Leinon", "Sibeliuksen"]
WORD_NAME_LINES = ["Grace period for the rent ends in May.", "Mark the box if the income is regular.",
                   "Frank answers helped the assessment.", "Hope for a settlement is low.",
                   "Bill reminders were sent twice.", "Joy at the decision was short-lived.",
                   "Amber alerts were shown for the account.", "Rose garden maintenance is not covered.",
                   "Iris recognition is not used by the office.", "Summer allowance is paid in June."]


def passport2():
    dig = lambda n: "".join(R.choice("0123456789") for _ in range(n))
    up = lambda n: "".join(R.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))
    kind = R.randrange(8)
    if kind == 0:
        return dig(8)  # Swedish
    if kind == 1:
        return R.choice("CFGHJK") + "".join(R.choice("CFGHJKLMNPRTVWXYZ0123456789") for _ in range(8))
    if kind == 2:
        return dig(9)  # British, American
    if kind == 3:
        return up(1) + dig(7)  # Estonian, Indian
    if kind == 4:
        return up(2) + dig(6)  # Ukrainian
    if kind == 5:
        return dig(2) + up(2) + dig(5)  # French
    if kind == 6:
        return up(1) + dig(8)  # Chinese, American
    return up(2) + " " + dig(7)  # Finnish with a space


def en_address():
    a = f"{R.randrange(1, 300)} {R.choice(EN_WORDS)} {R.choice(EN_TYPES)}"
    r = R.random()
    if r < 0.2:
        a = f"Flat {R.randrange(1, 40)}, {a}"
    if R.random() < 0.4:
        a += f", {R.choice(EN_CITIES)}"
    return a


def fi_address2():
    a = f"{R.choice(FI_STREET2)}{R.choice(FI_SUFFIX2)} {R.randrange(1, 90)}"
    if R.random() < 0.5:
        pc, town = R.choice(SV_TOWNS)
        a += f", {pc} {town if R.random() < 0.7 else town.upper()}"
    return a


def sv_town():
    pc, town = R.choice(SV_TOWNS)
    return f"{pc} {town}"


def vietnamese():
    return f"{R.choice(VI_FAMILY)} {R.choice(VI_MID)} {R.choice(VI_GIVEN)}"


def local_case():
    last = R.choice(FI_LAST_VOWEL)
    a = "ä" if any(c in last for c in "äöy") else "a"
    return last + R.choice(["lle", f"ll{a}", f"lt{a}"])


def ablative():
    last = R.choice([n for n in FI_LAST if n.endswith("nen")])
    return last[:-3] + R.choice(["selta", "selle", "sella"])


def company_of(last):
    return R.choice([f"{last} Oy", f"{last} & {R.choice(LAST)}", f"{last} Consulting Ltd",
                     f"{last} Trading AB", f"{last} Holding Oy", f"{last} & Co"])


ENTITY.update({
    "passport2": ("PASSPORT_NUMBER", passport2), "enaddr": ("STREET_ADDRESS", en_address),
    "fiaddr2": ("STREET_ADDRESS", fi_address2), "svtown": ("STREET_ADDRESS", sv_town),
    "viet": ("PERSON_NAME", vietnamese), "localcase": ("PERSON_NAME", local_case),
    "ablative": ("PERSON_NAME", ablative),
})
CONTEXT.update({
    "company2": lambda: company_of(R.choice(FI_LAST + LAST[:200])),
    "holiday": lambda: f"{R.choice(HOLIDAY_PEOPLE)} päivänä",
    "holiday_en": lambda: f"St {R.choice(['Brigid', 'David', 'George', 'Swithin'])}'s Day",
    "landmark2": lambda: f"{R.choice(['Waterloo', 'Jubilee', 'Paddington', 'Euston'])} {R.choice(['Station', 'Bridge', 'Line'])}",
    "org2": lambda: R.choice(["Vanhempainliitto", "Marttaliitto", "Invalidiliitto", "Näkövammaisten liitto",
                              "Pensionärsförbundet", "Svenska kulturfonden"]),
    "wordline": lambda: R.choice(WORD_NAME_LINES),
    "svtown_word": lambda: R.choice(SV_TOWNS)[1],
})
TEMPLATES2 = [
    ("fi", "Henkilöllisyys tarkistettu, passi nro {passport2}."),
    ("sv", "Passnummer {passport2} har kontrollerats."),
    ("en", "Passport number: {passport2}, issued last year."),
    ("fi", "Asiakas {name} muutti osoitteeseen {fiaddr2}."),
    ("sv", "Klienten flyttade till {svtown} i mars."),
    ("en", "The tenant {name} now lives at {enaddr}."),
    ("en", "New address: {enaddr}."),
    ("fi", "Tulkki varattiin, asiakas {viet} saapui ajoissa."),
    ("en", "{viet} handed in the payslips."),
    ("fi", "Päätös lähetettiin {localcase} kirjeitse."),
    ("fi", "Kysyin asiaa {ablative} puhelimessa."),
    ("fi", "Asiakas työskentelee yrityksessä {company2}."),
    ("en", "She is employed by {company2}."),
    ("fi", "Toimisto on kiinni {holiday}."),
    ("en", "The office is closed on {holiday_en}."),
    ("en", "Meet the client at {landmark2} at noon."),
    ("fi", "Hakijaa avustaa {org2} hakemuksen teossa."),
    ("en", "{wordline}"),
    ("sv", "Kontoret i {svtown_word} är stängt på fredag."),
    ("sv", "Dottern {fname} bor i {svtown}."),
]


def main():
    # The first part reproduces with the gazetteer it was made with (data/ at commit 11417a9;
    # the gazetteer has grown since); `--part2` prints only the appended lines.
    if "--part2" not in sys.argv:
        for i in range(1260):
            lang, template = TEMPLATES[i % len(TEMPLATES)]
            print(json.dumps({"id": f"p{i:04d}", **render(lang, template)}, ensure_ascii=False))
    R.seed(20261205_2)
    for i in range(1260, 1560):
        lang, template = TEMPLATES2[i % len(TEMPLATES2)]
        print(json.dumps({"id": f"p{i:04d}", **render(lang, template)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
