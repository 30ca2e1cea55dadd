#!/usr/bin/env python3
"""Second held-out corpus for dl-redact (issue 12): heldout2.jsonl.

Written before the detectors were changed for the held-out failures, with its own vocabulary
typed for it (names, streets, towns incl. the Swedish-language names of Finnish towns, companies,
laws, holidays, landmarks, passport formats of several countries, phone spellings) and its own
sentence shapes; it takes nothing from ../data, generate*.py or the Rust code. For measuring
only: no rule may be tuned to its lines.

    python3 generate_heldout2.py > heldout2.jsonl

Deterministic (fixed seed). Labels are UTF-8 byte offsets, as in the other corpora. Checksummed
identifiers are generated valid (HETU mod 31, IBAN mod 97, Luhn for cards and old accounts,
mod 11 for business ids); phone numbers are checked with `phonenumbers` when it is installed.
"""
import json
import random
import sys

R = random.Random(1205_2026_2)

# --- vocabulary (typed for this corpus) -------------------------------------------------------
FI_FIRST = ["Jaana", "Petteri", "Sirpa", "Raimo", "Tuija", "Jouni", "Marjatta", "Esko",
            "Iida", "Eetu", "Veikko", "Alli", "Riikka", "Kalervo", "Pirjo", "Tapani", "Elsa",
            "Ossi", "Heljä", "Kyösti", "Sointu", "Jorma", "Minna", "Arvo"]
FI_LAST = ["Heikkilä", "Kettunen", "Ruotsalainen", "Pesonen", "Halonen", "Laaksonen",
           "Manninen", "Vesterinen", "Kokkonen", "Salmi", "Honkanen", "Oksanen", "Koivisto",
           "Rantanen", "Vainio", "Toivanen", "Pulkkinen", "Hyttinen", "Rissanen", "Kärkkäinen",
           "Huttunen", "Peltola", "Leinonen", "Savolainen", "Ylönen", "Kemppainen"]
SV_FIRST = ["Birgitta", "Gösta", "Ragnar", "Ulla", "Sten", "Ebba", "Linnea", "Torbjörn",
            "Gunilla", "Henrik", "Solveig", "Rasmus", "Märta", "Kjell"]
SV_LAST = ["Sjöberg", "Lindqvist", "Åkerlund", "Forsman", "Blomqvist", "Nordström", "Ekholm",
           "Wikström", "Granholm", "Sundqvist", "Björkman", "Holmberg", "Söderlund", "Enqvist"]
EN_FIRST = ["Margaret", "Oliver", "Siobhan", "Tariq", "Priya", "Chloe", "Declan", "Gareth",
            "Imogen", "Rhys", "Nadia", "Callum", "Bethany", "Graham"]
EN_LAST = ["Thornton", "Pembroke", "Gallagher", "Mahmood", "Raman", "Whitfield", "Byrne",
           "Llewellyn", "Ashworth", "Okonkwo", "Fairbairn", "McAllister", "Pritchard", "Dunmore"]
# names of people who moved to Finland: first + last, and Vietnamese family-middle-given
OTHER = ["Abdirahman Warsame", "Faadumo Jama", "Hodan Farah", "Yasmin Haddad", "Omar Khalil",
         "Svetlana Ivanova", "Dmitri Volkov", "Kadri Tamm", "Jaan Kask", "Rojin Ahmadi",
         "Oksana Kovalenko", "Bogdan Shevchuk", "Amina Yusuf", "Mehmet Yilmaz", "Zainab Bakr",
         "Anil Chaudhary", "Lucía Ferreira", "Tomasz Wróbel", "Agnieszka Zielińska",
         "Kwame Boateng", "Ifeoma Nwosu", "Reza Karimi", "Leyla Aliyeva", "Mustafa Sharif"]
VIET = ["Tran Van Duc", "Pham Thi Hoa", "Le Minh Tuan", "Nguyen Van Long", "Hoang Thi Mai",
        "Vo Thanh Son", "Dang Thi Thu", "Bui Quang Huy", "Do Thi Ngoc"]
# first names that are also common words (used as words in the negatives)
WORD_NAMES_FI = ["Onni", "Toivo", "Rauha", "Aarre", "Armas", "Lempi", "Sulo", "Tyyne", "Voitto",
                 "Urho", "Valo", "Lumi", "Tuuli", "Aamu"]
WORD_NAMES_EN = ["Faith", "Hope", "Joy", "Rose", "Mark", "Bill", "Frank", "Dawn", "Amber",
                 "Ruby", "Iris", "Violet", "Jade", "Pearl", "Summer", "Hunter", "Sunny"]

FI_STREETS = ["Rientolantie", "Pajulahdentie", "Koulukuja", "Myllärinkatu", "Hirvenpolku",
              "Peltomäenkuja", "Tervahovintie", "Ratapihankatu", "Sammonkatu", "Kuusirinne",
              "Lehtoranta", "Haapaniemenkatu", "Karhunkierros", "Lukkarinmäki", "Pihlajakaari",
              "Säästöpankinranta", "Hakametsänkatu", "Rautatienpuistikko", "Kyläraitti",
              "Vihtakuja", "Puolukkapolku", "Tuulimyllyntie", "Niittykumpu", "Kanervatie"]
SV_STREETS = ["Strandgatan", "Skolhusgränd", "Kvarnbacken", "Fiskarstigen", "Ängsvägen",
              "Björkallén", "Hamnesplanaden", "Sjömansgatan", "Lotsvägen", "Tullbacken",
              "Kyrkoesplanaden", "Bäckstigen", "Rådhusgatan", "Smedsgränd"]
EN_STREETS = ["Larkspur Close", "Willowbank Crescent", "Foxhall Terrace", "Kings Mews",
              "Orchard Row", "Harbour Way", "Mill Walk", "Beech Gardens", "Ashdown Park",
              "Hawthorn Drive", "Church Hill", "Elmfield Avenue", "Poplar Lane", "Quarry Place",
              "Victoria Square", "Meadow Court", "Tanners Yard", "Bramble Rise"]
EN_TOWNS = ["Leeds LS6 2QT", "Cardiff CF10 3AT", "York YO1 7HH", "Bristol BS8 1TH",
            "Norwich NR2 4PD", "Dublin 8", "Galway", "Manchester M14 5RB"]
# (postal code, Finnish name, Swedish name)
TOWNS = [("00100", "Helsinki", "Helsingfors"), ("20100", "Turku", "Åbo"),
         ("65100", "Vaasa", "Vasa"), ("90100", "Oulu", "Uleåborg"),
         ("33100", "Tampere", "Tammerfors"), ("06100", "Porvoo", "Borgå"),
         ("02100", "Espoo", "Esbo"), ("01300", "Vantaa", "Vanda"),
         ("02700", "Kauniainen", "Grankulla"), ("67100", "Kokkola", "Karleby"),
         ("68600", "Pietarsaari", "Jakobstad"), ("66900", "Uusikaarlepyy", "Nykarleby"),
         ("64100", "Kristiinankaupunki", "Kristinestad"), ("64260", "Kaskinen", "Kaskö"),
         ("64200", "Närpiö", "Närpes"), ("10600", "Tammisaari", "Ekenäs"),
         ("07900", "Loviisa", "Lovisa"), ("21600", "Parainen", "Pargas"),
         ("21100", "Naantali", "Nådendal"), ("10900", "Hanko", "Hangö"),
         ("10210", "Inkoo", "Ingå"), ("04130", "Sipoo", "Sibbo"),
         ("02400", "Kirkkonummi", "Kyrkslätt"), ("08100", "Lohja", "Lojo"),
         ("13100", "Hämeenlinna", "Tavastehus"), ("28100", "Pori", "Björneborg"),
         ("53100", "Lappeenranta", "Villmanstrand"), ("95400", "Tornio", "Torneå"),
         ("87100", "Kajaani", "Kajana"), ("57100", "Savonlinna", "Nyslott"),
         ("50100", "Mikkeli", "S:t Michel"), ("25700", "Kemiönsaari", "Kimitoön"),
         ("40100", "Jyväskylä", "Jyväskylä"), ("70100", "Kuopio", "Kuopio"),
         ("22100", "Maarianhamina", "Mariehamn"), ("80100", "Joensuu", "Joensuu")]
COMPANIES = ["Hakkarainen Rakennus Oy", "Sundström & Co", "Erikssons Måleri AB",
             "Johnson & Johnson", "Marks & Spencer", "Sainsbury's", "Rettig Group",
             "Koskinen Kuljetus Oy", "Mikkola Logistics Ltd", "Laaksonen & Salo Asianajotoimisto",
             "Fazer Makeiset", "Hartwall Oy", "Ekström Trading Ab", "Wahlroos Consulting Oy",
             "Ben & Jerry's", "Kotipizza Oyj", "Jacobs Douwe Egberts", "Berner Oy",
             "Lassila & Tikanoja Oyj", "Ruokakesko Oy", "Hesburger", "Anttila Oy",
             "Walt Disney Company", "Ford Motor Company", "Tiedemann Kiinteistöt Oy"]
HOLIDAYS_FI = ["Runebergin päivänä", "Minna Canthin päivänä", "Mikael Agricolan päivänä",
               "J. V. Snellmanin päivänä", "Eino Leinon päivänä", "Sibeliuksen päivänä",
               "Mikkelinpäivänä", "Martinpäivänä", "Tapaninpäivänä"]
HOLIDAYS_SV = ["Runebergsdagen", "Minna Canths dag", "Sibeliusdagen", "Mikaelidagen",
               "Annandag jul", "Luciadagen"]
HOLIDAYS_EN = ["St Patrick's Day", "Guy Fawkes Night", "St Stephen's Day", "Valentine's Day",
               "Presidents' Day", "Columbus Day", "St Andrew's Day"]
LANDMARKS_FI = ["Sibelius-monumentin", "Senaatintorin", "Temppeliaukion kirkon",
                "Kaivopuiston", "Hakaniemen hallin", "Tuomiokirkon", "Ateneumin",
                "Olympiastadionin", "Näsinneulan", "Turun linnan", "Aleksanterin teatterin"]
LANDMARKS_EN = ["Tower Bridge", "Nelson's Column", "Victoria Station", "Kings Cross",
                "St Paul's Cathedral", "Hyde Park Corner", "Albert Dock"]
LAWS = ["Toimeentulotukilain 2 §", "lain kuntouttavasta työtoiminnasta", "Asumistukilain 14 §",
        "Hallintolain 45 §", "Lagen om utkomststöd", "Social Security Act 1975",
        "Equality Act 2010", "Data Protection Act 2018", "Care Act 2014",
        "Mental Capacity Act", "Kuluttajansuojalain", "Lastensuojelulain 36 §",
        "Lagen om klientens ställning", "Työttömyysturvalain"]
ORGS = ["Kela", "Verohallinto", "Pirkanmaan hyvinvointialue", "Västra Nylands välfärdsområde",
        "Helsingin kaupunki", "HUS", "Folkhälsan", "Suomen Punainen Risti",
        "Mannerheimin Lastensuojeluliitto", "Marthaförbundet", "Citizens Advice",
        "Salvation Army", "Ulosottolaitos", "Vantaan työllisyyspalvelut"]
MONTHS_FI = ["Tammikuussa", "Helmikuun", "Maaliskuussa", "Huhtikuun", "Toukokuussa",
             "Kesäkuun", "Heinäkuussa", "Elokuun", "Syyskuussa", "Lokakuun", "Marraskuussa",
             "Joulukuun"]
MONTHS_EN = ["January", "March", "April", "May", "June", "July", "August", "October"]
MONTHS_SV = ["januari", "mars", "maj", "juni", "augusti", "oktober", "december"]
STARTS_FI = ["Tänään", "Eilen", "Valitettavasti", "Kuitenkin", "Lisäksi", "Huomenna",
             "Aiemmin", "Jatkossa", "Toistaiseksi"]
STARTS_SV = ["Dessutom", "Tyvärr", "Följande", "Tidigare", "Därefter", "Igår"]
STARTS_EN = ["However", "Unfortunately", "Further", "Previously", "Meanwhile", "Overall"]

EMAIL_DOMAINS = ["kotiposti.fi", "suomi24.example", "hyvinvointialue.fi", "mail.example.se",
                 "outlook.example.com", "kaupunki.example.fi", "lähiö.fi", "yhdistys.org"]

# --- identifiers -------------------------------------------------------------------------------
HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def hetu():
    y = R.randint(1930, 2015)
    d, m = R.randint(1, 28), R.randint(1, 12)
    sign = "-" if y < 2000 else R.choice("AB")
    if y < 2000 and R.random() < 0.2:
        sign = R.choice("YXWVU")
    n = R.randint(2, 899)
    num = int(f"{d:02d}{m:02d}{y % 100:02d}{n:03d}")
    return f"{d:02d}{m:02d}{y % 100:02d}{sign}{n:03d}{HETU_CHECK[num % 31]}"


def iban_fi():
    bban = "".join(R.choice("0123456789") for _ in range(14))
    # national Luhn check of FI BBAN (last digit)
    body = bban[:13]
    bban = body + luhn_digit(body)
    num = int("".join(str(int(c, 36)) for c in bban + "FI00"))
    chk = 98 - num % 97
    return f"FI{chk:02d}{bban}"


def iban_other(cc, n):
    bban = "".join(R.choice("0123456789") for _ in range(n))
    num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    return f"{cc}{98 - num % 97:02d}{bban}"


def iban_gb():
    """GB: four-letter bank code, sort code and account number (14 digits)."""
    bban = "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    bban += "".join(R.choice("0123456789") for _ in range(14))
    num = int("".join(str(int(ch, 36)) for ch in bban + "GB00"))
    return f"GB{98 - num % 97:02d}{bban}"


def luhn_digit(s):
    total = 0
    for i, c in enumerate(reversed(s)):
        v = int(c)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return str((10 - total % 10) % 10)


def card():
    kind = R.choice(["visa", "mc", "amex"])
    if kind == "visa":
        body = "4" + "".join(R.choice("0123456789") for _ in range(14))
        n = body + luhn_digit(body)
        return " ".join(n[i:i + 4] for i in range(0, 16, 4))
    if kind == "mc":
        body = "5" + R.choice("12345") + "".join(R.choice("0123456789") for _ in range(13))
        n = body + luhn_digit(body)
        return "-".join(n[i:i + 4] for i in range(0, 16, 4))
    body = "3" + R.choice("47") + "".join(R.choice("0123456789") for _ in range(12))
    n = body + luhn_digit(body)
    return f"{n[:4]} {n[4:10]} {n[10:]}"


def business_id():
    while True:
        d = "".join(R.choice("0123456789") for _ in range(7))
        s = sum(int(a) * w for a, w in zip(d, [7, 9, 10, 5, 8, 4, 2])) % 11
        if s == 1:
            continue
        return d, str(0 if s == 0 else 11 - s)


def old_account():
    while True:
        bank = R.choice(["1", "2", "5", "8", "3"])
        first = bank + "".join(R.choice("0123456789") for _ in range(5))
        rest = "".join(R.choice("0123456789") for _ in range(R.randint(2, 7)))
        if bank in "45":
            machine = first + rest[0] + "0" * (14 - 7 - len(rest)) + rest[1:]
        else:
            machine = first + "0" * (14 - 6 - len(rest) - 1) + rest
        if len(machine) != 13:
            continue
        d = luhn_digit(machine)
        return f"{first}-{rest}{d}"


try:
    import phonenumbers
except ImportError:  # the committed file was made with it installed
    phonenumbers = None


def valid_phone(text, region="FI"):
    if phonenumbers is None:
        return True
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, region))
    except phonenumbers.NumberParseException:
        return False


def phone():
    while True:
        kind = R.randint(0, 11)
        sub = "".join(R.choice("0123456789") for _ in range(7))
        pre = R.choice(["40", "41", "44", "45", "50"])
        if kind == 0:
            p = f"0{pre} {sub[:3]} {sub[3:]}"
        elif kind == 1:
            p = f"0{pre}-{sub[:3]} {sub[3:5]} {sub[5:]}"
        elif kind == 2:
            p = f"+358 {pre} {sub[:3]} {sub[3:5]} {sub[5:]}"
        elif kind == 3:
            p = f"+358 (0){pre} {sub[:3]} {sub[3:]}"
        elif kind == 4:
            p = f"00358 {pre} {sub[:3]} {sub[3:]}"
        elif kind == 5:
            p = f"+358-{pre}-{sub}"
        elif kind == 6:
            p = f"09 {R.randint(2, 8)}{sub[:3]} {sub[3:6]}"
        elif kind == 7:
            p = f"+46 70 {sub[:3]} {sub[3:5]} {sub[5:]}"
        elif kind == 8:
            p = f"+44 7{R.choice('4579')}{sub[:2]} {sub[2:]}{R.randint(0, 9)}"
        elif kind == 9:
            p = f"+44 (0)20 7{sub[:3]} {sub[3:]}"
        elif kind == 10:
            p = f"+372 5{sub[:3]} {sub[3:]}"
        else:
            p = f"0{pre}\u2011{sub}"
        if valid_phone(p.replace("\u2011", "-")):
            return p


def plate():
    letters = "ABCEFGHIJKLMNOPRSTUVXYZ"
    a = "".join(R.choice(letters) for _ in range(R.choice([2, 3, 3, 3])))
    return f"{a}-{R.randint(1, 999)}"


def passport():
    """(number, cue in fi/sv/en) over several countries' formats."""
    kind = R.randint(0, 9)
    dig = lambda n: "".join(R.choice("0123456789") for _ in range(n))
    up = lambda n: "".join(R.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))
    if kind == 0:  # Finnish: two letters, seven digits
        return up(2) + dig(7), "Suomen"
    if kind == 1:  # Swedish: eight digits
        return dig(8), "Ruotsin"
    if kind == 2:  # German: nine characters from a restricted alphabet
        al = "CFGHJKLMNPRTVWXYZ0123456789"
        return R.choice("CFGHJK") + "".join(R.choice(al) for _ in range(8)), "Saksan"
    if kind == 3:  # UK: nine digits
        return dig(9), "Britannian"
    if kind == 4:  # Estonian: a letter and seven digits
        return R.choice("KE") + dig(7), "Viron"
    if kind == 5:  # Ukrainian: two letters and six digits
        return up(2) + dig(6), "Ukrainan"
    if kind == 6:  # Indian: a letter and seven digits
        return up(1) + dig(7), "Intian"
    if kind == 7:  # French: two digits, two letters, five digits
        return dig(2) + up(2) + dig(5), "Ranskan"
    if kind == 8:  # Chinese: E and eight digits
        return "E" + dig(8), "Kiinan"
    return up(1) + dig(8), "Yhdysvaltain"  # US next-generation


# --- builder ---------------------------------------------------------------------------------
class Line:
    def __init__(self, lang):
        self.lang, self.parts, self.labels = lang, [], []

    def t(self, s):
        self.parts.append(s)
        return self

    def e(self, entity, s):
        start = len("".join(self.parts).encode())
        self.parts.append(s)
        self.labels.append({"entity": entity, "start": start,
                            "end": start + len(s.encode())})
        return self

    def done(self):
        return {"lang": self.lang, "text": "".join(self.parts), "entities": self.labels}


def c(xs):
    return R.choice(xs)


def name(lang=None):
    r = R.random()
    if r < 0.12:
        return c(VIET)
    if r < 0.3:
        return c(OTHER)
    pool = {"fi": (FI_FIRST, FI_LAST), "sv": (SV_FIRST, SV_LAST), "en": (EN_FIRST, EN_LAST)}
    f, l = pool[lang or c(["fi", "sv", "en"])]
    if R.random() < 0.15:  # a foreign surname with a local first name
        l = FI_LAST + SV_LAST + EN_LAST
    return f"{c(f)} {c(l)}"


def front(v):
    return any(ch in v for ch in "äöy") and not any(ch in v for ch in "aou")


def fi_case(surname, case):
    """Finnish case forms of a surname: allative, adessive, ablative, genitive."""
    a = "ä" if front(surname) else "a"
    endings = {"all": "lle", "ade": f"ll{a}", "abl": f"lt{a}", "gen": "n"}
    if surname.endswith("nen"):
        return surname[:-3] + "se" + endings[case]
    if surname[-1] in "aeiouyäö":
        return surname + endings[case]
    return surname + "i" + endings[case]


def fi_street_addr():
    s = c(FI_STREETS)
    n = str(R.randint(1, 120))
    r = R.random()
    if r < 0.3:
        n += f" {c('ABCDEF')} {R.randint(1, 60)}"
    elif r < 0.45:
        n += c("abc")
    elif r < 0.55:
        n += f" as. {R.randint(1, 40)}"
    pc, fin, swe = c(TOWNS)
    r = R.random()
    if r < 0.35:
        return f"{s} {n}"
    town = swe if R.random() < 0.4 else fin
    return f"{s} {n}, {pc} {town}" if R.random() < 0.7 else f"{s} {n} {pc} {town.upper()}"


def sv_street_addr():
    s = c(SV_STREETS)
    n = str(R.randint(1, 80))
    if R.random() < 0.3:
        n += f" {c('ABC')}"
    pc, fin, swe = c(TOWNS)
    if R.random() < 0.4:
        return f"{s} {n}"
    return f"{s} {n}, {pc} {swe}"


def en_street_addr():
    s = f"{R.randint(1, 240)} {c(EN_STREETS)}"
    if R.random() < 0.25:
        s = f"Flat {R.randint(1, 30)}, {s}"
    if R.random() < 0.5:
        s += f", {c(EN_TOWNS)}"
    return s


def pc_town(swedish):
    pc, fin, swe = c(TOWNS)
    return f"{pc} {swe if swedish else fin}"


def dob(lang):
    d, m, y = R.randint(1, 28), R.randint(1, 12), R.randint(1931, 2012)
    r = R.random()
    if lang == "en":
        months = ["January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"]
        return c([f"{d} {months[m - 1]} {y}", f"{months[m - 1]} {d}, {y}", f"{d}/{m}/{y}",
                  f"{y}-{m:02d}-{d:02d}"])
    if lang == "sv":
        months = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
                  "september", "oktober", "november", "december"]
        return c([f"{d} {months[m - 1]} {y}", f"{d}.{m}.{y}", f"{y}-{m:02d}-{d:02d}"])
    return f"{d}.{m}.{y}" if r < 0.7 else f"{d:02d}.{m:02d}.{y}"


def email(nm):
    parts = nm.lower().split()
    table = str.maketrans("åäöüéíóúñçł", "aaoueiounsl")
    local = ".".join(p.translate(table) for p in parts[:2])
    r = R.random()
    dom = c(EMAIL_DOMAINS)
    if r < 0.1:
        return f"{local} at {dom.replace('.', ' dot ')}", f"{local}@{dom}"
    if r < 0.2:
        return f"{local}(at){dom}", None
    if r < 0.3:
        local = local.replace(".", "_") + str(R.randint(1, 99))
    return f"{local}@{dom}", None


# --- sentence shapes -------------------------------------------------------------------------
def pos_fi():
    L = Line("fi")
    k = R.randint(0, 27)
    n = name("fi")
    if k == 0:
        L.t("Asiakas ").e("PERSON_NAME", n).t(" asuu osoitteessa ").e("STREET_ADDRESS", fi_street_addr()).t(".")
    elif k == 1:
        L.t("Hakija ").e("PERSON_NAME", n).t(" (s. ").e("DATE_OF_BIRTH", dob("fi")).t(") haki toimeentulotukea.")
    elif k == 2:
        L.t("Puhelinkeskustelu: ").e("PERSON_NAME", n).t(", puh. ").e("PHONE", phone()).t(".")
    elif k == 3:
        s = c(FI_LAST)
        L.t("Soitin ").e("PERSON_NAME", fi_case(s, "gen")).t(" tyttärelle, joka lupasi toimittaa tiliotteet.")
    elif k == 4:
        s = c(FI_LAST)
        L.t("Päätös lähetettiin ").e("PERSON_NAME", f"{c(FI_FIRST)} {fi_case(s, 'all')}").t(" postitse.")
    elif k == 5:
        s = c(FI_LAST)
        L.t("Kysyin asiaa ").e("PERSON_NAME", fi_case(s, "abl")).t(" puhelimitse.")
    elif k == 6:
        s = c(FI_LAST)
        L.t("Vuokrasopimus on ").e("PERSON_NAME", f"{c(FI_FIRST)} {fi_case(s, 'ade')}").t(" eikä hakijalla.")
    elif k == 7:
        pn, cue = passport()
        L.t(f"Henkilöllisyys tarkistettu: {cue} passi nro ").e("PASSPORT_NUMBER", pn).t(".")
    elif k == 8:
        pn, _ = passport()
        L.t("Passinumero ").e("PASSPORT_NUMBER", pn).t(", voimassa 2031 asti.")
    elif k == 9:
        ib = iban_fi()
        L.t("Tilinumero ").e("IBAN", c([ib, " ".join(ib[i:i + 4] for i in range(0, 18, 4))])).t(", saaja ").e("PERSON_NAME", n).t(".")
    elif k == 10:
        L.t("Henkilötunnus ").e("FI_PERSONAL_IDENTITY_CODE", hetu()).t(", nimi ").e("PERSON_NAME", n).t(".")
    elif k == 11:
        v, _ = email(n)
        L.t("Sähköposti ").e("EMAIL", v).t(" ei toimi.")
    elif k == 12:
        L.t("Auto ").e("FI_VEHICLE_PLATE", plate()).t(" on ").e("PERSON_NAME", n).t(" nimissä.")
    elif k == 13:
        L.t("Postiosoite: ").e("STREET_ADDRESS", pc_town(R.random() < 0.5)).t(".")
    elif k == 14:
        L.t("Muutti ").e("STREET_ADDRESS", fi_street_addr()).t(" viime kuussa.")
    elif k == 15:
        L.t("Yhteyshenkilö ").e("PERSON_NAME", c(VIET)).t(", tulkki paikalla.")
    elif k == 16:
        L.e("PERSON_NAME", c(VIET)).t(" toimitti palkkalaskelmat.")
    elif k == 17:
        d, ch = business_id()
        L.t("Toiminimi, alv-tunniste ").e("VAT_ID", f"FI{d}{ch}").t(".")
    elif k == 18:
        L.t("Vanha tilinumero ").e("FI_BANK_ACCOUNT", old_account()).t(" on suljettu.")
    elif k == 19:
        L.t("Maksettu kortilla ").e("PAYMENT_CARD", card()).t(".")
    elif k == 20:
        L.t("Lapsi ").e("PERSON_NAME", c(FI_FIRST)).t(" aloittaa koulun elokuussa.")
    elif k == 21:
        L.t("Syntynyt ").e("DATE_OF_BIRTH", dob("fi")).t(", hetu ").e("FI_PERSONAL_IDENTITY_CODE", hetu().replace("-", "\u2013")).t(".")
    elif k == 22:
        L.t("Äiti ").e("PERSON_NAME", n).t(" ja isä ").e("PERSON_NAME", name("fi")).t(" allekirjoittivat hakemuksen.")
    elif k == 23:
        L.t("Osoite ").e("STREET_ADDRESS", sv_street_addr()).t(", puhelin ").e("PHONE", phone()).t(".")
    elif k == 24:
        L.t("Tavattu ").e("PERSON_NAME", n).t(" ").e("STREET_ADDRESS", pc_town(True)).t(" toimipisteessä.")
    elif k == 25:
        L.e("PERSON_NAME", n).t(" ilmoitti uudeksi osoitteekseen ").e("STREET_ADDRESS", fi_street_addr()).t(".")
    elif k == 26:
        L.t("Edunvalvoja ").e("PERSON_NAME", name("en")).t(" pyysi kopiota päätöksestä.")
    else:
        s = c(FI_LAST)
        L.t("Asia siirrettiin ").e("PERSON_NAME", fi_case(s, "all")).t(".")
    return L


def pos_sv():
    L = Line("sv")
    k = R.randint(0, 15)
    n = name("sv")
    if k == 0:
        L.t("Sökanden ").e("PERSON_NAME", n).t(" bor på ").e("STREET_ADDRESS", sv_street_addr()).t(".")
    elif k == 1:
        L.e("PERSON_NAME", n).t(", född ").e("DATE_OF_BIRTH", dob("sv")).t(", ansöker om bostadsbidrag.")
    elif k == 2:
        L.t("Kontakt: ").e("PERSON_NAME", n).t(", tfn ").e("PHONE", phone()).t(".")
    elif k == 3:
        pn, _ = passport()
        L.t("Passnummer ").e("PASSPORT_NUMBER", pn).t(" kontrollerat.")
    elif k == 4:
        L.t("Adress: ").e("STREET_ADDRESS", f"{c(SV_STREETS)} {R.randint(1, 60)}, {pc_town(True)}").t(".")
    elif k == 5:
        L.t("Flyttade till ").e("STREET_ADDRESS", pc_town(True)).t(" i våras.")
    elif k == 6:
        v, _ = email(n)
        L.t("E-post ").e("EMAIL", v).t(".")
    elif k == 7:
        L.t("Handläggare ").e("PERSON_NAME", n).t(" har godkänt ansökan.")
    elif k == 8:
        L.t("Kontonummer ").e("IBAN", iban_other("SE", 20)).t(" tillhör ").e("PERSON_NAME", n).t(".")
    elif k == 9:
        L.t("Personbeteckning ").e("FI_PERSONAL_IDENTITY_CODE", hetu()).t(".")
    elif k == 10:
        L.t("Dottern ").e("PERSON_NAME", c(SV_FIRST)).t(" går i skolan i ").e("STREET_ADDRESS", pc_town(True)).t(".")
    elif k == 11:
        L.t("Beslutet skickades till ").e("PERSON_NAME", n).t(", ").e("STREET_ADDRESS", sv_street_addr()).t(".")
    elif k == 12:
        L.e("PERSON_NAME", c(VIET)).t(" har lämnat in lönebesked.")
    elif k == 13:
        pn, _ = passport()
        L.t("Pass nr ").e("PASSPORT_NUMBER", pn).t(" (utfärdat 2022).")
    elif k == 14:
        L.t("Bilen ").e("FI_VEHICLE_PLATE", plate()).t(" ägs av ").e("PERSON_NAME", n).t(".")
    else:
        L.t("Ombud ").e("PERSON_NAME", name("fi")).t(" ringde från ").e("PHONE", phone()).t(".")
    return L


def pos_en():
    L = Line("en")
    k = R.randint(0, 17)
    n = name("en")
    if k == 0:
        L.t("The applicant, ").e("PERSON_NAME", n).t(", lives at ").e("STREET_ADDRESS", en_street_addr()).t(".")
    elif k == 1:
        L.e("PERSON_NAME", n).t(" (born ").e("DATE_OF_BIRTH", dob("en")).t(") asked for a review.")
    elif k == 2:
        L.t("Call back ").e("PERSON_NAME", n).t(" on ").e("PHONE", phone()).t(".")
    elif k == 3:
        pn, _ = passport()
        L.t("Passport number: ").e("PASSPORT_NUMBER", pn).t(".")
    elif k == 4:
        pn, _ = passport()
        L.t("ID checked against passport no. ").e("PASSPORT_NUMBER", pn).t(" on arrival.")
    elif k == 5:
        L.t("New address: ").e("STREET_ADDRESS", en_street_addr()).t(".")
    elif k == 6:
        v, canon = email(n)
        L.t("Email ").e("EMAIL", v).t(" bounced.")
    elif k == 7:
        L.t("Caseworker ").e("PERSON_NAME", n).t(" approved the payment.")
    elif k == 8:
        ib = iban_gb()
        L.t("Rent goes to ").e("IBAN", " ".join(ib[i:i + 4] for i in range(0, 22, 4))).t(".")
    elif k == 9:
        L.t("Card ending ").e("PAYMENT_CARD", card()).t(" was declined.")
    elif k == 10:
        L.t("Mr ").e("PERSON_NAME", c(EN_LAST)).t(" said the letter never arrived.")
    elif k == 11:
        L.t("Interpreter requested for ").e("PERSON_NAME", c(VIET)).t(".")
    elif k == 12:
        L.e("PERSON_NAME", n).t(" moved to ").e("STREET_ADDRESS", en_street_addr()).t(" in spring.")
    elif k == 13:
        L.t("DOB ").e("DATE_OF_BIRTH", dob("en")).t(", tel. ").e("PHONE", phone()).t(".")
    elif k == 14:
        L.t("Her son ").e("PERSON_NAME", c(EN_FIRST)).t(" attends the day centre.")
    elif k == 15:
        L.t("Letter sent to ").e("PERSON_NAME", n).t(", ").e("STREET_ADDRESS", f"{fi_street_addr()}").t(".")
    elif k == 16:
        L.t("Landlord ").e("PERSON_NAME", c(OTHER)).t(" confirmed the deposit.")
    else:
        L.t("Travel document no. ").e("PASSPORT_NUMBER", passport()[0]).t(" expires next year.")
    return L


def neg():
    k = R.randint(0, 33)
    if k == 0:
        return Line("fi").t(f"Asiakas työskentelee yrityksessä {c(COMPANIES)}.")
    if k == 1:
        return Line("fi").t(f"Toimisto on suljettu {c(HOLIDAYS_FI)}.")
    if k == 2:
        return Line("fi").t(f"Tapaaminen sovittiin {c(LANDMARKS_FI)} lähelle.")
    if k == 3:
        return Line("fi").t(f"Päätös perustuu {c(LAWS)} soveltamiseen.")
    if k == 4:
        return Line("fi").t(f"{c(MONTHS_FI)} maksettiin tukea 412 euroa.")
    if k == 5:
        return Line("fi").t(f"{c(STARTS_FI)} hakemus käsitellään {c(ORGS)}-yksikössä.")
    if k == 6:
        w = c(WORD_NAMES_FI)
        return Line("fi").t(f"Hakemuksen nimi on \"{w} ja arki\" -hanke, jota {c(ORGS)} rahoittaa.")
    if k == 7:
        return Line("fi").t(f"{c(['Onni', 'Toivo', 'Rauha'])} on tärkeää, sanoi asiakas itse.")
    if k == 8:
        return Line("sv").t(f"Kontoret är stängt på {c(HOLIDAYS_SV)}.")
    if k == 9:
        return Line("sv").t(f"{c(STARTS_SV)} ska ansökan kompletteras enligt {c(LAWS[4:5] + LAWS[12:13])}.")
    if k == 10:
        return Line("sv").t(f"Sökanden arbetar på {c(COMPANIES)} i {c(TOWNS)[2]}.")
    if k == 11:
        return Line("sv").t(f"Stödet betalas ut i {c(MONTHS_SV)}.")
    if k == 12:
        return Line("en").t(f"The office is closed on {c(HOLIDAYS_EN)}.")
    if k == 13:
        return Line("en").t(f"{c(STARTS_EN)}, the claim was assessed under the {c(LAWS[5:10])}.")
    if k == 14:
        return Line("en").t(f"She works part-time at {c(COMPANIES)}.")
    if k == 15:
        return Line("en").t(f"Meet at {c(LANDMARKS_EN)} at ten.")
    if k == 16:
        w = c(WORD_NAMES_EN)
        shapes = {"Faith": "Faith in the process is low.", "Hope": "Hope remains for an agreement.",
                  "Joy": "Joy was expressed at the outcome.", "Rose": "Rose bushes were damaged by the tenant.",
                  "Mark": "Mark the form as received.", "Bill": "Bill payments are two months late.",
                  "Frank": "Frank discussion with the landlord followed.", "Dawn": "Dawn visits are not possible.",
                  "Amber": "Amber warning issued for the account.", "Ruby": "Ruby wedding anniversary gift declared as income.",
                  "Iris": "Iris scan not required for benefits.", "Violet": "Violet paint covers the damp patch.",
                  "Jade": "Jade jewellery was listed as an asset.", "Pearl": "Pearl earrings were sold in March.",
                  "Summer": "Summer payments follow the usual schedule.", "Hunter": "Hunter green carpets were replaced.",
                  "Sunny": "Sunny weather delayed nothing."}
        return Line("en").t(shapes[w])
    if k == 17:
        return Line("en").t(f"{c(MONTHS_EN)} rent was paid late.")
    if k == 18:
        return Line("fi").t(f"Hakemusnumero {R.randint(10000000, 99999999)} on kirjattu.")
    if k == 19:
        return Line("en").t(f"Case reference {c('ABCDEFGH')}{R.randint(1000000, 9999999)} was closed.")
    if k == 20:
        return Line("fi").t(f"Diaarinumero {R.randint(100, 9999)}/{R.randint(1, 9)}.{R.randint(1, 9)}/2025, summa {R.randint(1, 9)} {R.randint(100, 999)} euroa.")
    if k == 21:
        return Line("fi").t(f"Asiakas asui aiemmin {c(TOWNS)[1]}ssa ja muutti {c(TOWNS)[2]}-nimiseen kaupunkiin.")
    if k == 22:
        return Line("fi").t(f"{c(['Kauppakadun', 'Rautatieaseman', 'Torikadun', 'Linja-autoaseman'])} kulmassa on uusi toimipiste.")
    if k == 23:
        return Line("en").t(f"Passport photo was taken at {c(LANDMARKS_EN)}.")
    if k == 24:
        return Line("fi").t("Passi oli vanhentunut, joten hakija toimitti ajokortin.")
    if k == 25:
        return Line("fi").t(f"Tuki myönnetään {c(LAWS[:4])} nojalla.")
    if k == 26:
        return Line("en").t(f"The Ford Focus was sold for {R.randint(900, 9000)} euros in {c(MONTHS_EN)}.")
    if k == 27:
        return Line("sv").t(f"Mötet hölls vid {c(['Salutorget', 'Esplanaden', 'Stortorget', 'Tullbron'])} i {c(TOWNS)[2]}.")
    if k == 28:
        return Line("fi").t(f"Asiakas on {c(ORGS)}:n asiakas ja asioi {c(['Kelan', 'Postin', 'Alkon'])} toimistossa.")
    if k == 29:
        return Line("en").t(f"Order No. {R.randint(10000000, 99999999)} from {c(COMPANIES)} arrived.")
    if k == 30:
        return Line("fi").t(f"Tukea haettiin {c(MONTHS_FI[1::2])} lopussa; {c(STARTS_FI).lower()} ei lisäselvityksiä.")
    if k == 31:
        return Line("en").t(f"{c(['Victoria', 'Elizabeth', 'Albert'])} Line trains were cancelled.")
    if k == 32:
        return Line("sv").t(f"Dessutom ska {c(ORGS)} bekräfta beslutet före {c(HOLIDAYS_SV)}.")
    return Line("en").t(f"Version {R.randint(1, 9)}.{R.randint(0, 20)} of the form replaced the {c(LAWS[5:9])} template.")


def upper_first(s):
    return s[:1].upper() + s[1:]


def mixed():
    """A line with personal data and a hard negative side by side."""
    k = R.randint(0, 7)
    n = name()
    if k == 0:
        return Line("fi").t("Asiakas ").e("PERSON_NAME", n).t(f" työskentelee yrityksessä {c(COMPANIES)}.")
    if k == 1:
        return Line("fi").t(f"{upper_first(c(HOLIDAYS_FI))} ").e("PERSON_NAME", n).t(" soitti päivystykseen.")
    if k == 2:
        return Line("en").e("PERSON_NAME", n).t(f" was paid by {c(COMPANIES)} until {c(MONTHS_EN)}.")
    if k == 3:
        return Line("sv").t(f"{c(STARTS_SV)} ringde ").e("PERSON_NAME", n).t(f" om {c(LAWS[4:5] + LAWS[12:13]).lower()}.")
    if k == 4:
        return Line("fi").t("Hakija ").e("PERSON_NAME", n).t(f" asioi {c(LANDMARKS_FI)} vieressä.")
    if k == 5:
        return Line("en").t("Mrs ").e("PERSON_NAME", n).t(f" met us at {c(LANDMARKS_EN)}.")
    if k == 6:
        return Line("fi").t("Yhteyshenkilö ").e("PERSON_NAME", n).t(f" ({c(ORGS)}), puh. ").e("PHONE", phone()).t(".")
    return Line("en").t(f"{c(STARTS_EN)}, ").e("PERSON_NAME", n).t(f" works for {c(COMPANIES)}.")


def main():
    out = []
    for i in range(480):
        r = R.random()
        if r < 0.30:
            L = neg()
        elif r < 0.40:
            L = mixed()
        elif r < 0.70:
            L = pos_fi()
        elif r < 0.82:
            L = pos_sv()
        else:
            L = pos_en()
        row = L.done()
        out.append({"id": f"q{i:04d}", **row})
    for row in out:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
