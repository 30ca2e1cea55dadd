#!/usr/bin/env python3
"""Generates the held-out labelled corpus (heldout.jsonl) for dl-redact's detectors.

Written for issue 12's held-out check, independently of the detectors' word lists: the names,
streets, cities, companies, laws and sentence shapes below were typed from general knowledge,
not taken from ../data/*.txt, generate_people.py or the Rust code, and every template here is
new (not one of people.jsonl's 44). Identifiers use the real-world spellings issue 12 lists: an
en dash or a space in a HETU, IBANs grouped with no-break or thin spaces or dashes,
`+1 (206) 258-0135`, `045/582 2366`, 4-6-4 Diners and 4-6-5 Amex groups, e-mail with an
internationalised domain or local part, apostrophes in local parts, written-out addresses
(`x at y dot fi`). About 30 % of the lines are hard negatives with no personal data (places,
companies named after people, streets as landmarks, laws, months, first names that are also
common words, capitalised sentence starts, dates that are not dates of birth, form codes).

Deterministic: `python3 generate_heldout.py > heldout.jsonl`. Same line format as
people.jsonl: {"id", "lang", "text", "entities": [{"entity", "start", "end"}]}, byte offsets.
Inline labels in the templates: `[CODE|text]` labels a literal, `{slot}` draws a value.
The checksum helpers (HETU control character, Luhn, mod 97, mod 11) come from generate.py:
they encode the identifiers' definitions, not the detectors' rules.
"""
import json
import random
import re

import generate as g

R = random.Random(77012)
g.R = R

# --- people (typed for this file; Finnish, Finland-Swedish, English and other names) ---------
FI_FIRST = ["Sirkka", "Raimo", "Tuula", "Kalevi", "Marjatta", "Veikko", "Elina", "Petteri",
            "Hannele", "Arto", "Kirsi", "Vesa", "Tiina", "Jouni", "Leena", "Esa", "Päivi",
            "Heikki", "Riitta", "Ilkka", "Minna", "Tapio", "Outi", "Seppo", "Satu", "Jorma",
            "Pirjo", "Markku", "Anu", "Kimmo", "Hilkka", "Teemu", "Merja", "Osmo", "Ritva",
            "Janne", "Sari", "Erkki", "Taina", "Lauri", "Ulla", "Mervi", "Aki", "Raili"]
FI_LAST = ["Kettunen", "Hyvönen", "Räsänen", "Kärkkäinen", "Tikkanen", "Lappalainen", "Pesonen",
           "Kinnunen", "Ahonen", "Partanen", "Manninen", "Rantala", "Halonen", "Savolainen",
           "Mattila", "Laitinen", "Väisänen", "Ojala", "Peltola", "Hiltunen", "Karjalainen",
           "Leinonen", "Huttunen", "Jokinen", "Tuominen", "Kurki", "Mustonen", "Rissanen",
           "Seppälä", "Vainio", "Hakala", "Kokkonen", "Anttila", "Pulkkinen", "Ikonen", "Sirola",
           "Luoma", "Kallio", "Heiskanen", "Tolvanen"]
SV_FIRST = ["Gunnel", "Ragnar", "Sten", "Birgitta", "Torbjörn", "Solveig", "Åsa", "Henrik",
            "Ebba", "Mikael", "Ingrid", "Kaj", "Ulrika", "Bengt", "Linnea", "Stig", "Camilla",
            "Göran", "Ann-Louise", "Rasmus"]
SV_LAST = ["Sjöblom", "Westerlund", "Öhman", "Granqvist", "Söderholm", "Åkerman", "Lindqvist",
           "Backman", "Nordling", "Wikström", "Forsblom", "Holmström", "Bergroth", "Enqvist",
           "Strandberg", "Ekholm", "Sandell", "Lönnqvist"]
EN_FIRST = ["Siobhan", "Gareth", "Rhiannon", "Callum", "Imogen", "Declan", "Harriet", "Rory",
            "Bethany", "Alasdair", "Niamh", "Tobias", "Maeve", "Fergus", "Esther", "Duncan"]
EN_LAST = ["O'Connor", "Whitfield", "Pemberton", "MacAllister", "Hargreaves", "Fitzgerald",
           "Blackwood", "Osei", "Thornbury", "Llewellyn", "Ashworth", "Gallagher", "Coates"]
OTHER = [("Oluwaseun", "Adeyemi"), ("Nguyen Thi", "Lan"), ("Mohammed", "Al-Sayed"),
         ("Ayşe", "Yılmaz"), ("Olena", "Kovalenko"), ("Dmytro", "Bondarenko"),
         ("Abdirahman", "Warsame"), ("Fatima", "Hussein"), ("Tran Van", "Minh"),
         ("Priya", "Raman"), ("Hamid", "Rezaei"), ("Svetlana", "Kuznetsova"),
         ("Amina", "Jama"), ("Piotr", "Wiśniewski"), ("Ioana", "Popescu"), ("Kwame", "Mensah"),
         ("Zeynep", "Demir"), ("Anjali", "Krishnan"), ("Tomasz", "Zieliński"), ("Leyla", "Aliyeva"),
         ("Chidi", "Okafor"), ("Mei", "Zhang"), ("Arturo", "Valdés"), ("Rasa", "Petrauskienė")]


def fi_genitive(last):
    if last.endswith("nen"):
        return last[:-3] + "sen"
    if last[-1] in "aeiouyäö":
        return last + "n"
    return last + "in"


def fi_allative(last):
    if last.endswith("nen"):
        return last[:-3] + "selle"
    if last[-1] in "aeiouyäö":
        return last + "lle"
    return last + "ille"


def pick_name(kind=None):
    kind = kind or R.choice(["fi", "fi", "fi", "sv", "en", "other", "other"])
    if kind == "fi":
        return R.choice(FI_FIRST), R.choice(FI_LAST)
    if kind == "sv":
        return R.choice(SV_FIRST), R.choice(SV_LAST)
    if kind == "en":
        return R.choice(EN_FIRST), R.choice(EN_LAST)
    return R.choice(OTHER)


# --- addresses ------------------------------------------------------------------------------
FI_STREETS = ["Hallituskatu", "Kuninkaankatu", "Sammonkatu", "Vellamonkatu", "Otsonkuja",
              "Tapiolantie", "Nokiantie", "Ratapihantie", "Sairaalakatu", "Koulukatu",
              "Rautatienkatu", "Linnankoskenkatu", "Tuomiokirkonkatu", "Metsäkyläntie",
              "Kuusikkotie", "Haapaniemenkatu", "Pajakuja", "Karhunpolku", "Lepikonkaari",
              "Vaahterarinne", "Sepänkatu", "Kalliolanrinne", "Torpanpolku", "Isokatu",
              "Kauppiaankatu", "Louhentie"]
SV_STREETS = ["Sjömansgatan", "Brunnsgatan", "Tallbacksvägen", "Solbergsgränd", "Hamngatan",
              "Fabriksgatan", "Kvarnbacken", "Tullgatan", "Ängsvägen", "Bryggerigatan"]
EN_STREETS = ["Willow Crescent", "Elm Grove", "Queens Road", "Victoria Terrace", "Harbour Lane",
              "Chapel Street", "Beech Avenue", "Fairfield Road"]
CITIES = ["Lahti", "Kuopio", "Joensuu", "Rovaniemi", "Seinäjoki", "Kokkola", "Mikkeli",
          "Kajaani", "Savonlinna", "Iisalmi", "Kemi", "Sodankylä", "Nurmes", "Äänekoski", "Oulu",
          "Turku", "Vaasa", "Espoo", "Vantaa", "Kerava", "Raisio", "Lappeenranta", "Jyväskylä",
          "Pori", "Salo", "Hyvinkää", "Kouvola", "Kotka"]
SV_CITIES = ["Jakobstad", "Närpes", "Kristinestad", "Mariehamn", "Vasa", "Åbo", "Ekenäs",
             "Borgå", "Karleby"]


def postcode():
    return f"{R.randrange(100, 99999):05d}"


def addr_fi(full=None):
    street = R.choice(FI_STREETS)
    number = str(R.randrange(1, 90))
    r = R.random()
    if r < 0.25:
        number += f" {R.choice('ABCD')} {R.randrange(1, 40)}"
    elif r < 0.4:
        number += f" as. {R.randrange(1, 30)}"
    elif r < 0.5:
        number += R.choice("abc")
    elif r < 0.55:
        number += f"-{int(number) + 2}"
    if full if full is not None else R.random() < 0.6:
        return f"{street} {number}, {postcode()} {R.choice(CITIES)}"
    return f"{street} {number}"


def addr_sv(full=None):
    street = R.choice(SV_STREETS)
    number = str(R.randrange(1, 60))
    if R.random() < 0.3:
        number += f" {R.choice('ABC')} {R.randrange(1, 25)}"
    if full if full is not None else R.random() < 0.6:
        return f"{street} {number}, {postcode()} {R.choice(SV_CITIES)}"
    return f"{street} {number}"


def addr_en():
    return f"{R.randrange(2, 240)} {R.choice(EN_STREETS)}"


def post_city():
    return f"{postcode()} {R.choice(CITIES + SV_CITIES)}"


# --- dates of birth -------------------------------------------------------------------------
MONTHS_FI = ["tammikuuta", "helmikuuta", "maaliskuuta", "huhtikuuta", "toukokuuta", "kesäkuuta",
             "heinäkuuta", "elokuuta", "syyskuuta", "lokakuuta", "marraskuuta", "joulukuuta"]
MONTHS_SV = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
             "september", "oktober", "november", "december"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]


def ymd():
    y = R.randrange(1931, 2022)
    m = R.randrange(1, 13)
    return y, m, R.randrange(1, g.days_in(m, y) + 1)


def dob(lang):
    y, m, d = ymd()
    r = R.random()
    if lang == "fi":
        return R.choice([f"{d}.{m}.{y}", f"{d:02d}.{m:02d}.{y}", f"{d}. {MONTHS_FI[m - 1]} {y}"])
    if lang == "sv":
        return R.choice([f"{d}.{m}.{y}", f"{d} {MONTHS_SV[m - 1]} {y}", f"{y}-{m:02d}-{d:02d}"])
    if r < 0.3:
        return f"{d} {MONTHS_EN[m - 1]} {y}"
    if r < 0.5:
        return f"{MONTHS_EN[m - 1]} {d}, {y}"
    if r < 0.75:
        return f"{y}-{m:02d}-{d:02d}"
    return f"{d:02d}/{m:02d}/{y}"


def other_date():
    y = R.randrange(2019, 2027)
    m = R.randrange(1, 13)
    d = R.randrange(1, 29)
    return R.choice([f"{d}.{m}.{y}", f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}"])


# --- identifiers in real-world spellings ----------------------------------------------------
def hetu():
    h = g.hetu()
    if h[6] != "-":
        return h
    return R.choice([h, h.replace("-", "\u2013"), h.replace("-", "\u2013"),
                     h.replace("-", " - "), h.replace("-", "- ")])


def iban():
    country = R.choice(["FI", "FI", "FI", "SE", "DE"])
    compact = g.iban(country=country).replace(" ", "")
    sep = R.choice([" ", "\u00a0", "\u00a0", "\u202f", "-", ""])
    if sep == "":
        return compact
    return sep.join(compact[i:i + 4] for i in range(0, len(compact), 4))


def card():
    kind = R.choice(["visa", "diners", "diners", "amex", "mc"])
    if kind == "diners":
        payload = R.choice(["36", "38", "305"]) + "".join(str(R.randrange(10)) for _ in range(13 - 2))
        payload = payload[:13]
        n = payload + g.luhn_digit(payload)
        return f"{n[:4]} {n[4:10]} {n[10:]}"
    if kind == "amex":
        payload = R.choice(["34", "37"]) + "".join(str(R.randrange(10)) for _ in range(12))
        n = payload + g.luhn_digit(payload)
        return f"{n[:4]} {n[4:10]} {n[10:]}"
    prefix = "4" if kind == "visa" else "53"
    payload = prefix + "".join(str(R.randrange(10)) for _ in range(15 - len(prefix)))
    n = payload + g.luhn_digit(payload)
    sep = R.choice([" ", "-", "\u00a0"])
    return sep.join(n[i:i + 4] for i in range(0, 16, 4))


def phone():
    r = R.random()
    sub = f"{R.randrange(100, 1000)} {R.randrange(1000, 10000)}"
    pre = R.choice(["040", "041", "044", "045", "046", "050"])
    if r < 0.15:
        return f"+1 ({R.randrange(201, 990)}) {R.randrange(200, 1000)}-{R.randrange(1000, 10000)}"
    if r < 0.3:
        return f"{pre}/{sub}"
    if r < 0.4:
        return f"+46 {R.randrange(70, 77)} {R.randrange(100, 1000)} {R.randrange(10, 100)} {R.randrange(10, 100)}"
    if r < 0.5:
        return f"+44 20 {R.randrange(7000, 8000)} {R.randrange(1000, 10000)}"
    if r < 0.6:
        return f"(0{R.choice(['9', '17', '13', '14'])}) {R.randrange(200, 900)} {R.randrange(1000, 10000)}"
    if r < 0.75:
        return f"+358\u00a0{pre[1:]}\u00a0{sub.replace(' ', chr(0xa0))}"
    if r < 0.87:
        return f"{pre}\u2013{sub.replace(' ', '')}"
    return f"{pre} {sub}"


ASCII = str.maketrans("äöåÄÖÅ", "aoaAOA")


def mail_name(first, last):
    return (first.split()[0] + "." + last.replace(" ", "")).lower()


def email():
    first, last = pick_name()
    r = R.random()
    local = mail_name(first, last)
    if r < 0.25:
        domain = R.choice(["äänekoski.fi", "hyvinkää.fi", "pörssi.example", "sähköposti.fi",
                           "mäntyharju.fi"])
        return f"{local.translate(ASCII)}@{domain}"
    if r < 0.4:
        return f"{local}@{R.choice(['posti.example', 'kunta.example.fi'])}"
    if r < 0.55:
        return R.choice(["sean.o'connor", "d'angelo.rossi", "o'brien.niamh", "mary-kate.o'neill",
                         "j.o'sullivan", "tom+kela"]) + "@" + R.choice(["example.ie", "mail.example.com", "example.co.uk"])
    local = local.translate(ASCII)
    return f"{local}@{R.choice(['gmail.com', 'kolumbus.fi', 'outlook.example', 'hotmail.fi'])}"


def email_written():
    first, last = pick_name("fi")
    local = mail_name(first, last).translate(ASCII)
    host, tld = R.choice([("gmail", "com"), ("kolumbus", "fi"), ("posti", "fi"), ("luukku", "com")])
    return R.choice([f"{local} at {host} dot {tld}", f"{local}(at){host}(dot){tld}",
                     f"{local} [at] {host} [dot] {tld}", f"{local} (at) {host}.{tld}"])


def plate():
    letters = "".join(R.choice("ABCDEGHIJKLMNOPRSTUVXYZ") for _ in range(R.choice([2, 3, 3, 3])))
    return f"{letters}-{R.randrange(1, 1000)}"


def passport():
    return R.choice([
        "".join(R.choice("CFGHJKLMNPRTVWXYZ") for _ in range(2)) + f"{R.randrange(10**6, 10**7)}",
        f"{R.randrange(10**7, 10**8)}",
        "C" + "".join(R.choice("0123456789CFGHJKLMNPRTVWXYZ") for _ in range(8)),
    ])


def account():
    bank = R.choice(["1", "2", "3", "4", "5", "6", "8"]) + f"{R.randrange(10**4, 10**5)}"
    body = f"{R.randrange(10**4, 10**7)}"
    if bank[0] in "45":
        machine13 = bank + body[0] + "0" * (13 - len(bank) - len(body)) + body[1:]
    else:
        machine13 = bank + "0" * (13 - len(bank) - len(body)) + body
    machine = machine13 + g.luhn_digit(machine13)
    rest = machine[6] + machine[7:].lstrip("0") if bank[0] in "45" else machine[6:].lstrip("0")
    return f"{bank}{R.choice(['-', '-', chr(0x2013)])}{rest}"


def vat():
    if R.random() < 0.75:
        return "FI" + g.business_id().replace("-", "")
    payload = f"{R.randrange(10**8, 10**9)}"
    return f"SE{payload}{g.luhn_digit(payload)}01"


# --- context (never personal data) ----------------------------------------------------------
COMPANIES = ["Sinebrychoff", "Lindström Oy", "Rettig Group", "Nordea", "Danske Bank",
             "Tokmanni", "Clas Ohlson", "Saarioinen Oy", "Kotipizza", "Veho", "Fiskars",
             "Ahlstrom", "Hesburger", "Tikkurila", "Lassila & Tikanoja", "Aktia", "Valio",
             "Orion Oyj", "Konecranes", "Alma Media", "Oras", "Raisio Oyj"]
LAWS = ["toimeentulotukilaki", "Lastensuojelulaki", "Vammaispalvelulaki", "Työttömyysturvalaki",
        "Lagen om utkomststöd", "the Equality Act 2010", "Hallintolaki", "Sairausvakuutuslaki",
        "Socialvårdslagen", "Ulkomaalaislaki"]
LANDMARKS = ["Hakaniemen torin", "Kauppatorin", "Runebergsgatan", "Sturegatan", "Oxford Street",
             "Aleksis Kiven kadun", "Hervannan valtaväylän", "Tuomiokirkon", "Keskuspuiston"]


SLOTS = {
    "hetu": ("FI_PERSONAL_IDENTITY_CODE", hetu), "iban": ("IBAN", iban),
    "card": ("PAYMENT_CARD", card), "email": ("EMAIL", email),
    "mailw": ("EMAIL", email_written), "phone": ("PHONE", phone),
    "plate": ("FI_VEHICLE_PLATE", plate), "passport": ("PASSPORT_NUMBER", passport),
    "account": ("FI_BANK_ACCOUNT", account), "vat": ("VAT_ID", vat),
    "addr": ("STREET_ADDRESS", addr_fi), "addrfull": ("STREET_ADDRESS", lambda: addr_fi(True)),
    "addrshort": ("STREET_ADDRESS", lambda: addr_fi(False)), "addrsv": ("STREET_ADDRESS", addr_sv),
    "addren": ("STREET_ADDRESS", addr_en), "postcity": ("STREET_ADDRESS", post_city),
    "dobfi": ("DATE_OF_BIRTH", lambda: dob("fi")), "dobsv": ("DATE_OF_BIRTH", lambda: dob("sv")),
    "doben": ("DATE_OF_BIRTH", lambda: dob("en")),
}


def name_slot(key):
    """name / namefi / namesv / nameen / nameother / first / firstfi / last / lastfi / gen /
    all / gensv: a person's name in a form the sentence needs."""
    kind = {"namefi": "fi", "namesv": "sv", "nameen": "en", "nameother": "other",
            "firstfi": "fi", "firstsv": "sv", "lastfi": "fi", "lasten": "en", "gen": "fi",
            "all": "fi", "genother": "other", "gensv": "sv"}.get(key)
    first, last = pick_name(kind)
    if key.startswith("first"):
        return first
    if key.startswith("last"):
        return last
    if key in ("gen", "gensv", "genother"):
        return f"{first} {fi_genitive(last)}"
    if key == "all":
        return fi_allative(last)
    return f"{first} {last}"


CONTEXT = {
    "city": lambda: R.choice(CITIES), "svcity": lambda: R.choice(SV_CITIES),
    "company": lambda: R.choice(COMPANIES), "law": lambda: R.choice(LAWS),
    "landmark": lambda: R.choice(LANDMARKS), "date": other_date,
    "amount": lambda: f"{R.randrange(40, 2400)},{R.randrange(100):02d}",
    "case": lambda: f"{R.randrange(100, 9999)}/{R.randrange(2019, 2027)}",
    "monthfi": lambda: R.choice(["tammikuussa", "helmikuussa", "maaliskuussa", "huhtikuussa",
                                 "toukokuussa", "kesäkuussa", "heinäkuussa", "elokuussa",
                                 "syyskuussa", "lokakuussa", "marraskuussa", "joulukuussa"]),
    "monthen": lambda: R.choice(MONTHS_EN), "monthsv": lambda: R.choice(MONTHS_SV),
    "year": lambda: str(R.randrange(2018, 2027)),
}
TOKEN = re.compile(r"\{([a-z]+)\}|\[([A-Z_]+)\|([^\]]+)\]")


def render(template):
    text, entities, pos = "", [], 0
    for m in TOKEN.finditer(template):
        text += template[pos:m.start()]
        pos = m.end()
        if m.group(2):
            code, value = m.group(2), m.group(3)
        elif m.group(1) in CONTEXT:
            text += CONTEXT[m.group(1)]()
            continue
        elif m.group(1) in SLOTS:
            code, make = SLOTS[m.group(1)]
            value = make()
        else:
            code, value = "PERSON_NAME", name_slot(m.group(1))
        start = len(text.encode())
        text += value
        entities.append({"entity": code, "start": start, "end": len(text.encode())})
    text += template[pos:]
    return text[0].upper() + text[1:], entities


# (lang, repetitions, template). Positive lines first, then hard negatives.
POSITIVE = [
    ("fi", 3, "Asiakas {namefi} ilmoitti uudeksi osoitteekseen {addrfull}."),
    ("fi", 3, "Soitin {gen} kanssa {date}, hän pyysi lisäaikaa liitteille."),
    ("fi", 3, "Hakemuksen allekirjoitti {namefi} ({hetu})."),
    ("fi", 2, "Tuensaaja: {nameother}, henkilötunnus {hetu}, tili {iban}."),
    ("fi", 3, "Vuokra maksetaan vuokranantajalle {namesv}, tilinumero {iban}."),
    ("fi", 2, "Puoliso {firstfi} on ollut sairauslomalla {monthfi}; hänen puhelinnumeronsa on {phone}."),
    ("fi", 3, "Yhteydenotto: {phone}, tavoitettavissa arkisin klo 9–15."),
    ("fi", 3, "Asiakkaan sähköposti {email}, ei halua kirjeitä paperisena."),
    ("fi", 2, "Sähköposti muodossa {mailw} (asiakas kirjoitti itse)."),
    ("fi", 3, "{namefi} on syntynyt {dobfi} ja asuu yksin."),
    ("fi", 2, "Lapsen syntymäaika {dobfi}, huoltaja {namefi}."),
    ("fi", 3, "Päätös lähetettiin {all} {date} kirjeitse."),
    ("fi", 2, "Asiakas omistaa henkilöauton, rekisterinumero {plate}, arvo noin {amount} €."),
    ("fi", 2, "Passin numero {passport}, voimassa {year} asti."),
    ("fi", 2, "Palautus tilille {account}, tilinomistaja {namefi}."),
    ("fi", 2, "Toiminimi Tmi {lastfi}, ALV-tunniste {vat}, tulot vaihtelevat."),
    ("fi", 2, "Kortin numero {card} näkyi liitteessä, pyydetty peittämään."),
    ("fi", 2, "Kotikäynti {date}: {nameother} ja tulkki, osoite {addrshort}."),
    ("fi", 3, "Postiosoite {postcity}, kadunnimeä ei ilmoitettu."),
    ("fi", 2, "Omainen {nameen} asuu ulkomailla ({phone})."),
    ("fi", 2, "Edunvalvojaksi on määrätty {namefi}, puh. {phone}."),
    ("fi", 2, "Terveydenhoitaja {namefi} arvioi {genother} kotona pärjäämisen."),
    ("fi", 2, "Hakija asui aiemmin osoitteessa {addr}; muutto {monthfi}."),
    ("fi", 2, "Lääkärinlausunnon kirjoitti [PERSON_NAME|Raili Kurki]; potilas {namefi}, s. {dobfi}."),
    ("fi", 2, "Maksuosoite: {namesv}, {addrsv}."),
    ("fi", 2, "Tarkistettu {date}: {lastfi} ei ole vastannut viesteihin."),
    ("sv", 3, "Klienten {namesv} har flyttat till {addrsv}."),
    ("sv", 2, "{namesv}, född {dobsv}, ansöker om utkomststöd."),
    ("sv", 2, "Ring {firstsv} på {phone} efter klockan tre."),
    ("sv", 2, "Personbeteckning {hetu}; kontonummer {iban}."),
    ("sv", 2, "E-post till {email}, kopia till handläggaren."),
    ("sv", 2, "Bilen med registreringsnummer {plate} är såld."),
    ("sv", 2, "Passnummer {passport}, utfärdat i {svcity}."),
    ("sv", 2, "Enskild näringsidkare {namesv}, momsnummer {vat}."),
    ("sv", 2, "Hyran betalas till {namefi}, {postcity}."),
    ("sv", 2, "Jag talade med {nameother} om ansökan den {date}."),
    ("en", 3, "The client {nameen} moved to {addren} in {monthen}."),
    ("en", 2, "Interpreter requested for {nameother}, date of birth {doben}."),
    ("en", 2, "{nameother} (born {doben}) receives housing allowance."),
    ("en", 3, "Please call {nameen} on {phone} before the home visit."),
    ("en", 2, "Reply sent to {email} on {date}."),
    ("en", 2, "Written address given as {mailw}."),
    ("en", 2, "Card {card} was used for the deposit; refund requested."),
    ("en", 2, "Refund to IBAN {iban}, account holder {namefi}."),
    ("en", 2, "Passport no. {passport} was shown at the office."),
    ("en", 2, "Sole trader {nameen}, VAT {vat}, invoices attached."),
    ("en", 2, "Personal identity code {hetu} belongs to the spouse, {namesv}."),
    ("en", 2, "Her car ({plate}) is used for work."),
    ("en", 2, "Ms {lasten} said the landlord lives at {addrfull}."),
    ("en", 2, "Old account number {account} is closed."),
    ("en", 2, "Dr. {nameother} wrote the medical statement."),
    # hand-written single lines
    ("fi", 1, "[PERSON_NAME|Tuula Ahonen] ja [PERSON_NAME|Kalevi Ahonen] hakevat yhdessä asumistukea."),
    ("fi", 1, "Poika [PERSON_NAME|Onni] (7 v.) on sijoitettuna isovanhemmille."),
    ("fi", 1, "Asiakas pyysi, että [PERSON_NAME|Väisäselle] ei kerrota uudesta osoitteesta [STREET_ADDRESS|Louhentie 3 B 12, 15140 Lahti]."),
    ("fi", 1, "Isä [PERSON_NAME|Abdirahman Warsame] ja äiti [PERSON_NAME|Amina Jama] asuvat erillään."),
    ("fi", 1, "Sijaisperhe: [PERSON_NAME|Merja] ja [PERSON_NAME|Osmo Tolvanen], [STREET_ADDRESS|Kuusikkotie 9, 74100 Iisalmi]."),
    ("fi", 1, "Asiakkaan tytär [PERSON_NAME|Anu] hoitaa raha-asiat, p. [PHONE|045/582 2366]."),
    ("fi", 1, "Sähköposti [EMAIL|päivi.räsänen@äänekoski.fi] palautui, osoite tarkistettava."),
    ("fi", 1, "HETU [FI_PERSONAL_IDENTITY_CODE|131052–308T] kopioitu Word-liitteestä."),
    ("fi", 1, "Kirjoitin [PERSON_NAME|Hiltuselle] ja [PERSON_NAME|Pesoselle] samana päivänä."),
    ("fi", 1, "[PERSON_NAME|Lauri Mattilan] mukaan [PERSON_NAME|Sari] muutti [STREET_ADDRESS|Pajakuja 4, 40520 Jyväskylä] jo keväällä."),
    ("fi", 1, "Tilinumero [IBAN|FI21 1234 5600 0007 85] (tulostettu välilyönnein)."),
    ("fi", 1, "Asiakas [PERSON_NAME|Rasa Petrauskienė] tarvitsee liettuan tulkin."),
    ("sv", 1, "[PERSON_NAME|Gunnel Sjöblom] och hennes son [PERSON_NAME|Rasmus] bor på [STREET_ADDRESS|Hamngatan 12 B 4, 68600 Jakobstad]."),
    ("sv", 1, "Kontakta [PERSON_NAME|Ann-Louise Ekholm] på [EMAIL|ann-louise.ekholm@åbo.fi]."),
    ("sv", 1, "Handläggare [PERSON_NAME|Stig Backman] beviljade stödet."),
    ("en", 1, "Call [PERSON_NAME|Siobhan O'Connor] on [PHONE|+1 (206) 258-0135] (US number)."),
    ("en", 1, "Diners card [PAYMENT_CARD|3056 930902 5904] was declined."),
    ("en", 1, "E-mail [EMAIL|sean.o'connor@example.ie] bounced twice."),
    ("en", 1, "[PERSON_NAME|Grace Whitfield] and her partner [PERSON_NAME|Tobias Coates] share the flat."),
    ("en", 1, "Forwarded to [EMAIL|kirsi.tikkanen at kolumbus dot fi] as the client asked."),
]
NEGATIVE = [
    ("fi", 4, "Päätös tehtiin {date} ({law} 4 §), tuki {amount} €."),
    ("fi", 3, "Asiakas asioi ketjussa {company}, toimipaikka {city}."),
    ("fi", 3, "Työmaa {landmark} kulmalla on hidastanut bussia."),
    ("fi", 3, "Hakemus {case} siirrettiin yksikköön {city}."),
    ("fi", 3, "{monthfi} {year} tulot olivat {amount} euroa."),
    ("fi", 2, "Toimeentulotukea haettiin {monthfi}; käsittely kesti {year} pidempään."),
    ("fi", 2, "Kela maksoi {amount} € {date}, viite {case}."),
    ("fi", 2, "Asiakas on töissä yrityksessä {company} osa-aikaisena."),
    ("sv", 3, "Beslutet fattades {date} enligt {law}."),
    ("sv", 2, "I {monthsv} {year} flyttade familjen till {svcity}."),
    ("sv", 2, "Ansökan {case} skickades till {company}."),
    ("en", 3, "The decision under {law} was issued on {date}."),
    ("en", 2, "In {monthen} {year} the office on {landmark} was closed."),
    ("en", 2, "The client works part-time at {company} in {city}."),
    ("en", 2, "Case {case} was transferred to the {city} office."),
    ("fi", 1, "Onni oli matkassa: vesivahinko ei koskenut asuntoa."),
    ("fi", 1, "Toivo on, että asia ratkeaa ennen juhannusta."),
    ("fi", 1, "Rauha palasi taloon, kun remontti valmistui."),
    ("fi", 1, "Usko omaan pärjäämiseen on vahvistunut."),
    ("fi", 1, "Into opiskeluun heräsi syksyllä."),
    ("fi", 1, "Aamulla tavattiin Hakaniemen torin kulmalla."),
    ("fi", 1, "Asiakas asuu Mannerheimin lastensuojeluliiton tukiasunnossa."),
    ("fi", 1, "Sinebrychoffin puistossa järjestetään perhetapahtuma."),
    ("fi", 1, "Kuopion yliopistollinen sairaala lähetti epikriisin."),
    ("fi", 1, "Hämeenlinnan hallinto-oikeus palautti asian."),
    ("fi", 1, "Lahden kaupunki myönsi kuljetuspalvelun."),
    ("fi", 1, "Tapiolan terveysasema on suljettu heinäkuussa."),
    ("fi", 1, "Saarioinen Oy ilmoitti lomautuksesta."),
    ("fi", 1, "Lomake TO 1 puuttuu, samoin liite 3."),
    ("fi", 1, "COVID-19 -tartunnan vuoksi tapaaminen siirrettiin."),
    ("fi", 1, "Ensimmäinen hakemus hylättiin, toinen on vireillä."),
    ("fi", 1, "Kolmas muistutus lähetetään maanantaina."),
    ("fi", 1, "Tarkistettu: tulotiedot täsmäävät tulorekisteriin."),
    ("fi", 1, "Huomioitu vuokra 620 € ja vesimaksu 25 €."),
    ("fi", 1, "Lisäksi asiakas pyysi kopiota päätöksestä."),
    ("fi", 1, "Kuitenkin asumismenot ylittävät kohtuullisen tason."),
    ("fi", 1, "Asiakkaalle kerrottiin oikaisuvaatimuksen määräajasta."),
    ("fi", 1, "Vammaispalvelulain 8 §:n mukainen kuljetuspalvelu myönnetty."),
    ("fi", 1, "Aleksis Kiven päivänä toimisto on auki normaalisti."),
    ("fi", 1, "Runebergin torttuja tarjoiltiin vertaisryhmässä."),
    ("fi", 1, "Mikkelinpäivän jälkeen käsittelyajat pitenevät."),
    ("fi", 1, "Pohjois-Savon hyvinvointialue vastaa palvelusta."),
    ("fi", 1, "Esitys käsitellään Lapin ELY-keskuksessa."),
    ("fi", 1, "Vuokrasopimus on voimassa 31.12.2025 asti."),
    ("fi", 1, "Asiakasnumero 40211 ja viitenumero 1232 1 annettu."),
    ("fi", 1, "Pankki: Nordea, Aktia tai S-Pankki käyvät."),
    ("fi", 1, "Valtatie 4 oli poikki Jyväskylän pohjoispuolella."),
    ("fi", 1, "Kesäkuussa asiakas aloittaa työkokeilun Tokmannilla."),
    ("fi", 1, "Laskun eräpäivä on 15.3.2026 ja summa 184,20 €."),
    ("fi", 1, "Pirkanmaan käräjäoikeus antoi tuomion viime viikolla."),
    ("fi", 1, "Hervannan valtaväylän työmaa jatkuu syksyyn."),
    ("fi", 1, "Sairaala: Keski-Suomen keskussairaala, osasto 5."),
    ("sv", 1, "Dessutom behövs ett intyg från arbetsgivaren."),
    ("sv", 1, "Enligt socialvårdslagen ska beslutet motiveras."),
    ("sv", 1, "Kontoret vid Runebergsgatan är stängt i juli."),
    ("sv", 1, "Ärendet gäller Folkhälsan i Jakobstad."),
    ("sv", 1, "Midsommar infaller i juni; handläggningen tar längre tid."),
    ("sv", 1, "Stockmanns varuhus i Åbo stänger."),
    ("sv", 1, "Svenska kulturfonden beviljade ett bidrag."),
    ("sv", 1, "Hyran höjdes med 3 procent från och med 1.4.2025."),
    ("en", 1, "Grace period ends in May."),
    ("en", 1, "Will the decision be appealed? The client has not said."),
    ("en", 1, "Hope remains that the landlord will agree."),
    ("en", 1, "Note: the Equality Act 2010 does not apply here."),
    ("en", 1, "Following the meeting, the plan was updated."),
    ("en", 1, "The Helsinki District Court ruled in June."),
    ("en", 1, "Oxford Street is where the client used to work."),
    ("en", 1, "Nokia Bell Labs and Fiskars were the previous employers."),
    ("en", 1, "Version 2.4.1 of the form was used; ISO 20022 format."),
    ("en", 1, "Reference number 11 22334 4556 is for the rent invoice."),
    ("en", 1, "Martin Luther King Day falls on a Monday this year."),
    ("en", 1, "Benefit of EUR 312.50 was paid on 2025-04-30."),
    ("en", 1, "Council tax band B applies to the property."),
    ("en", 1, "Social Insurance Institution of Finland sent a letter."),
    ("en", 1, "Appeal to the Administrative Court within 30 days."),
    ("en", 1, "Queens Road surgery referred the family to social services."),
    ("en", 1, "April rent was late; May and June were paid on time."),
    ("fi", 1, "Elokuussa Kela tarkistaa asumistuen automaattisesti."),
    ("fi", 1, "Kallion kirjastossa on maksuton tulostus."),
    ("fi", 1, "Sepänkadun kohdalla on uusi suojatie."),
    ("fi", 1, "Vastaanotto siirtyi Koulukadun terveysasemalle."),
    ("sv", 1, "Birgitta-kyrkan ordnar matutdelning på fredagar."),
    ("sv", 1, "Svar begärs senast den 15 mars."),
]


def main():
    rows = []
    # Templated positive lines are drawn twice as often as listed (new values each time).
    for lang, reps, template in [(l, r * 2 if r > 1 else r, t) for l, r, t in POSITIVE] + NEGATIVE:
        for _ in range(reps):
            text, entities = render(template)
            rows.append((lang, text, entities))
    R.shuffle(rows)
    for i, (lang, text, entities) in enumerate(rows):
        print(json.dumps({"id": f"h{i:04d}", "lang": lang, "text": text, "entities": entities},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
