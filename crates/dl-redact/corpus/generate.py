#!/usr/bin/env python3
"""Generates the labelled Finnish/English corpus for dl-redact's detectors (labelled.jsonl).

Deterministic (fixed seed): `python3 generate.py > labelled.jsonl` reproduces the committed file.
Each line: {"id", "lang", "text", "entities": [{"entity", "start", "end"}]} with byte offsets
into the UTF-8 text. Identifiers are built from their definitions with this file's own checksum
code (independent of the Rust validators it tests); hard negatives are near misses (wrong check
character, impossible date, failing Luhn or mod-97, amounts, dates, times, case numbers, version
strings) and must not be found.
"""
import json
import random

R = random.Random(20261128)
HETU_CONTROL = "0123456789ABCDEFHJKLMNPRSTUVWXY"
SIGNS = {1800: "+", 1900: "-YXWVU", 2000: "ABCDEF"}
FIRST = ["Maija", "Matti", "Aino", "Juhani", "Liisa", "Pekka", "Sanna", "Ville", "Emma", "Oskari"]
LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen", "Koskinen"]
ASCII = str.maketrans("äöåÄÖÅ", "aoaAOA")


def days_in(month, year):
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def hetu(valid=True):
    century = R.choice([1800, 1900, 1900, 1900, 2000, 2000])
    yy = R.randrange(100)
    month = R.randrange(1, 13)
    day = R.randrange(1, days_in(month, century + yy) + 1)
    individual = R.randrange(2, 1000)
    sign = R.choice(SIGNS[century])
    base = f"{day:02d}{month:02d}{yy:02d}"
    control = HETU_CONTROL[int(f"{base}{individual:03d}") % 31]
    if valid:
        return f"{base}{sign}{individual:03d}{control}"
    kind = R.choice(["control", "date", "individual"])
    if kind == "control":
        wrong = R.choice([c for c in HETU_CONTROL if c != control])
        return f"{base}{sign}{individual:03d}{wrong}"
    if kind == "date":
        bad = f"{R.choice([30, 31])}02{yy:02d}"
        return f"{bad}{sign}{individual:03d}{HETU_CONTROL[int(f'{bad}{individual:03d}') % 31]}"
    ind = R.choice([0, 1])
    return f"{base}{sign}{ind:03d}{HETU_CONTROL[int(f'{base}{ind:03d}') % 31]}"


def business_id(valid=True):
    while True:
        digits = [R.randrange(10) for _ in range(7)]
        rem = sum(d * w for d, w in zip(digits, [7, 9, 10, 5, 8, 4, 2])) % 11
        if rem != 1:
            break
    check = 0 if rem == 0 else 11 - rem
    if not valid:
        check = (check + R.randrange(1, 10)) % 10
    return "".join(map(str, digits)) + f"-{check}"


def luhn_digit(payload):
    total = 0
    for i, c in enumerate(reversed(payload)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def iban_check(country, bban):
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{98 - number % 97:02d}"


def iban(valid=True, country=None):
    country = country or R.choice(["FI", "FI", "FI", "DE", "SE"])
    if country == "FI":
        payload = "".join(str(R.randrange(10)) for _ in range(13))
        bban = payload + luhn_digit(payload)
    else:
        bban = "".join(str(R.randrange(10)) for _ in range({"DE": 18, "SE": 20}[country]))
    check = iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + R.randrange(1, 96)) % 97 + 2:02d}"
        if check == iban_check(country, bban):
            check = f"{(int(check) + 1) % 97 + 2:02d}"
    compact = country + check + bban
    if R.random() < 0.5:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact


def card(valid=True):
    prefix = R.choice(["4", "51", "52", "55", "2221"])
    payload = prefix + "".join(str(R.randrange(10)) for _ in range(15 - len(prefix)))
    check = luhn_digit(payload)
    if not valid:
        check = str((int(check) + R.randrange(1, 10)) % 10)
    number = payload + check
    if R.random() < 0.5:
        return " ".join(number[i:i + 4] for i in range(0, 16, 4))
    return number


def phone():
    kind = R.choice(["mobile", "mobile", "landline", "intl"])
    if kind == "landline":
        # Helsinki numbers: libphonenumber knows no 09 9xx xxxx subscriber numbers.
        return f"09 {R.randrange(200, 900)} {R.randrange(1000, 10000)}"
    prefix = R.choice(["40", "41", "44", "45", "46", "50"])
    rest = f"{R.randrange(1000000, 10000000)}"
    if kind == "intl":
        return R.choice([f"+358 {prefix} {rest}", f"+358{prefix}{rest}", f"+358 {prefix} {rest[:3]} {rest[3:]}"])
    return R.choice([f"0{prefix} {rest}", f"0{prefix}-{rest}", f"0{prefix} {rest[:3]} {rest[3:]}", f"0{prefix}{rest}"])


def email():
    first = R.choice(FIRST).translate(ASCII).lower()
    last = R.choice(LAST).translate(ASCII).lower()
    domain = R.choice(["example.fi", "kela.example", "posti.example.com", "yritys.fi"])
    return R.choice([f"{first}.{last}@{domain}", f"{first}{R.randrange(100)}@{domain}"])


def ip():
    if R.random() < 0.8:
        return ".".join(str(R.randrange(1, 255)) for _ in range(4))
    return f"2001:db8::{R.randrange(1, 0xffff):x}"


def name():
    return f"{R.choice(FIRST)} {R.choice(LAST)}"


def amount():
    return R.choice([f"{R.randrange(100, 9999)}", f"{R.randrange(1, 99)} {R.randrange(100, 999)}",
                     f"{R.randrange(100, 9999)},{R.randrange(10, 99)}", f"{R.randrange(100, 9999)}.00"])


def date():
    return R.choice([f"{R.randrange(1, 29)}.{R.randrange(1, 13)}.{R.randrange(2000, 2027)}",
                     f"{R.randrange(2000, 2027)}-{R.randrange(1, 13):02d}-{R.randrange(1, 29):02d}"])


def case_number():
    return R.choice([f"KELA-{R.randrange(2020, 2027)}-{R.randrange(0, 999999):06d}",
                     f"DNRO {R.randrange(1, 9999)}/{R.randrange(2020, 2027)}",
                     f"{R.randrange(10**11, 10**12)}"])


# (lang, template, fillers). A filler in ENTITY maps to a labelled entity; others are context.
ENTITY = {
    "hetu": ("FI_PERSONAL_IDENTITY_CODE", hetu),
    "ytunnus": ("FI_BUSINESS_ID", business_id),
    "iban": ("IBAN", iban),
    "card": ("PAYMENT_CARD", card),
    "phone": ("PHONE", phone),
    "email": ("EMAIL", email),
    "ip": ("IP_ADDRESS", ip),
}
CONTEXT = {
    "name": name, "amount": amount, "date": date, "case": case_number,
    "bad_hetu": lambda: hetu(False), "bad_ytunnus": lambda: business_id(False),
    "bad_iban": lambda: iban(False), "bad_card": lambda: card(False),
    "time": lambda: f"{R.randrange(0, 24):02d}:{R.randrange(0, 60):02d}",
    "version": lambda: f"{R.randrange(1, 5)}.{R.randrange(0, 20)}.{R.randrange(0, 50)}",
}
TEMPLATES = [
    ("fi", "Hakijan henkilötunnus on {hetu} ja tilinumero {iban}."),
    ("fi", "Asiakas {name} ({hetu}) soitti numerosta {phone} {date}."),
    ("fi", "Yhteyshenkilö: {name}, {email}, puh. {phone}"),
    ("fi", "Yrityksen Y-tunnus on {ytunnus}; laskutus tilille {iban}."),
    ("fi", "Maksu kortilla {card} hylättiin {date} klo {time}."),
    ("fi", "Kirjautuminen osoitteesta {ip} klo {time}, asia {case}."),
    ("fi", "Päätös {date}: tulot {amount} €/kk, asumismenot {amount} €."),
    ("fi", "Hakemus {case} käsitelty {date}, tuki {amount} euroa."),
    ("fi", "Virheellinen tunnus {bad_hetu} korjattu, oikea on {hetu}."),
    ("fi", "Tarkista tilinumero {bad_iban} ja Y-tunnus {bad_ytunnus}."),
    ("fi", "Huoltaja {hetu}, lapset {hetu} ja {hetu}."),
    ("fi", "Ohjelmaversio {version} asennettu {date}."),
    ("en", "The applicant's personal identity code is {hetu}; contact {email}."),
    ("en", "Refund of {amount} EUR to {iban} requested on {date}."),
    ("en", "Card {card} was declined; card {bad_card} failed validation."),
    ("en", "Call {name} on {phone} before {time}."),
    ("en", "Request from {ip} for case {case} at {time}."),
    ("en", "Supplier business id {ytunnus}, invoice total {amount} EUR."),
    ("en", "Income {amount} per month, housing costs {amount}, decided {date}."),
    ("en", "Invalid id {bad_hetu} rejected; version {version} deployed."),
    ("en", "Send the decision to {email} and a copy to {email}."),
    ("en", "Account {iban}, phone {phone}, id {hetu}."),
]


def render(lang, template):
    text, entities = "", []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        key, _, rest = after.partition("}")
        text += before
        if key in ENTITY:
            code, make = ENTITY[key]
            value = make()
            start = len(text.encode())
            text += value
            entities.append({"entity": code, "start": start, "end": len(text.encode())})
        else:
            text += CONTEXT[key]()
    text += rest
    return {"lang": lang, "text": text, "entities": entities}


def handwritten(path):
    """Rows of handwritten.txt: `lang|text` with {{ENTITY|identifier}} markup."""
    rows = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        lang, _, marked = line.partition("|")
        text, entities = "", []
        while "{{" in marked:
            before, _, after = marked.partition("{{")
            inner, _, marked = after.partition("}}")
            code, _, value = inner.partition("|")
            text += before
            start = len(text.encode())
            text += value
            entities.append({"entity": code, "start": start, "end": len(text.encode())})
        rows.append({"lang": lang, "text": text + marked, "entities": entities})
    return rows


def main():
    for i in range(600):
        lang, template = TEMPLATES[i % len(TEMPLATES)]
        row = render(lang, template)
        print(json.dumps({"id": f"c{i:04d}", **row}, ensure_ascii=False))
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for i, row in enumerate(handwritten(f"{here}/handwritten.txt")):
        print(json.dumps({"id": f"h{i:03d}", **row}, ensure_ascii=False))


if __name__ == "__main__":
    main()
