"""The shape of the demo data and the small value lists it is drawn from.

Shares are fractions of all customers unless said otherwise. Weighted lists are (value,
weight) pairs, expanded into slots in SQL (see `herald.demo._sql.slots`).
"""

from __future__ import annotations

YEARS_OF_HISTORY = 5
PURCHASER_SHARE = 0.82  # the other ~18 % are prospects, with no order
ORDER_COUNT_SIGMA = 1.4  # lognormal spread of orders per purchaser: most 1-10, a few hundreds
MAX_ORDERS_PER_CUSTOMER = 2_000
ACTIVE_TO_NOW_SHARE = 0.55  # purchasers still buying at as_of; the others stopped at some point
CHANNEL_HABIT = 0.65  # chance an order uses the customer's usual channel (same for brand)
PRODUCTS_PER_BRAND = 400
STORES = 150
RETURN_SHARE = 0.05
CANCELLATION_SHARE = 0.01
ORDER_REVENUE_MEDIAN = 63.0  # items=False only: lognormal (sigma 0.7) order revenue, mean ~ $80

EMAIL_MISSING = 0.03
EMAIL_MALFORMED = 0.01
EMAIL_SHARED = 0.005
EMAIL_UPPER = 0.02
EMAIL_PADDED = 0.01
EMAIL_OPT_IN = 0.65
SMS_OPT_IN = 0.30
LOYALTY_MEMBER = 0.40

# fmt: off

FEMALE_NAMES: tuple[str, ...] = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura",
    "Sharon", "Cynthia", "Kathleen", "Amy", "Angela", "Anna", "Brenda", "Emma", "Olivia", "Sophia",
    "Isabella", "Mia", "Ava", "Nicole", "Hannah", "Grace", "Natalie", "Camila", "Valentina",
    "Chloé", "Zoë", "Renée", "Siobhán", "María", "Lucía", "Sofía", "Léa", "Ingrid", "Aoife",
    "Priya", "Aisha", "Fatima", "Mei", "Yuki", "Ananya", "Ximena", "Guadalupe", "Keisha",
    "Latoya", "Anne-Marie", "Mary Kate", "芳", "秀英",
)
MALE_NAMES: tuple[str, ...] = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul",
    "Andrew", "Joshua", "Kevin", "Brian", "George", "Timothy", "Ronald", "Jason", "Edward",
    "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Justin", "Scott",
    "Brandon", "Benjamin", "Samuel", "Noah", "Liam", "Ethan", "José", "Luis", "Carlos", "Juan",
    "Mateo", "Santiago", "Diego", "Andrés", "Jürgen", "Björn", "François", "Søren", "Seán",
    "Dmitri", "Wei", "Hiroshi", "Raj", "Mohammed", "Omar", "Kwame", "Tyrone", "DeShawn", "Ahmed",
    "Jean-Luc", "伟", "强",
)
SURNAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gómez", "Phillips", "Evans",
    "Turner", "Díaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutiérrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Álvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jiménez",
    "Müller", "Schmidt", "Schröder", "O'Brien", "O'Connor", "D'Angelo", "McDonald", "MacLeod",
    "Kowalski", "Nowak", "Wiśniewski", "Søndergaard", "Åberg", "Núñez", "Peña", "Ng", "Wang",
    "Zhang", "Chen", "Liu", "Yamamoto", "Tanaka", "Sato", "Kumar", "Singh", "Khan", "Okafor",
    "Van der Berg", "De la Cruz", "Smith-Jones", "李", "王", "张", "김",
)
GENDERS: tuple[tuple[str | None, int], ...] = (("F", 49), ("M", 44), ("X", 1), (None, 6))
EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 42), ("yahoo.com", 14), ("hotmail.com", 9), ("outlook.com", 8),
    ("icloud.com", 8), ("aol.com", 4), ("comcast.net", 3), ("msn.com", 2), ("live.com", 2),
    ("protonmail.com", 2), ("me.com", 2), ("att.net", 2), ("btinternet.co.uk", 1), ("gmx.de", 1),
)
# (city, state, area code, first three ZIP digits, weight ~ share of US population in 1/1000)
CITIES: tuple[tuple[str, str, str, str, int], ...] = (
    ("Los Angeles", "CA", "213", "900", 40), ("San Diego", "CA", "619", "921", 15),
    ("San Jose", "CA", "408", "951", 10), ("San Francisco", "CA", "415", "941", 10),
    ("Sacramento", "CA", "916", "958", 10), ("Fresno", "CA", "559", "937", 8),
    ("Oakland", "CA", "510", "946", 7), ("Long Beach", "CA", "562", "908", 6),
    ("Irvine", "CA", "949", "926", 7), ("Riverside", "CA", "951", "925", 7),
    ("Houston", "TX", "713", "770", 30), ("Dallas", "TX", "214", "752", 22),
    ("San Antonio", "TX", "210", "782", 15), ("Austin", "TX", "512", "787", 15),
    ("El Paso", "TX", "915", "799", 8), ("Miami", "FL", "305", "331", 20),
    ("Tampa", "FL", "813", "336", 15), ("Orlando", "FL", "407", "328", 15),
    ("Jacksonville", "FL", "904", "322", 12), ("Tallahassee", "FL", "850", "323", 5),
    ("New York", "NY", "212", "100", 40), ("Brooklyn", "NY", "718", "112", 10),
    ("Buffalo", "NY", "716", "142", 5), ("Rochester", "NY", "585", "146", 4),
    ("Philadelphia", "PA", "215", "191", 22), ("Pittsburgh", "PA", "412", "152", 17),
    ("Chicago", "IL", "312", "606", 32), ("Springfield", "IL", "217", "627", 6),
    ("Columbus", "OH", "614", "432", 14), ("Cleveland", "OH", "216", "441", 12),
    ("Cincinnati", "OH", "513", "452", 9), ("Atlanta", "GA", "404", "303", 28),
    ("Savannah", "GA", "912", "314", 5), ("Charlotte", "NC", "704", "282", 18),
    ("Raleigh", "NC", "919", "276", 14), ("Detroit", "MI", "313", "482", 18),
    ("Grand Rapids", "MI", "616", "495", 12), ("Newark", "NJ", "973", "071", 15),
    ("Jersey City", "NJ", "201", "073", 13), ("Virginia Beach", "VA", "757", "234", 10),
    ("Richmond", "VA", "804", "232", 8), ("Arlington", "VA", "703", "222", 8),
    ("Seattle", "WA", "206", "981", 15), ("Spokane", "WA", "509", "992", 4),
    ("Tacoma", "WA", "253", "984", 4), ("Phoenix", "AZ", "602", "850", 16),
    ("Tucson", "AZ", "520", "857", 6), ("Nashville", "TN", "615", "372", 12),
    ("Memphis", "TN", "901", "381", 9), ("Boston", "MA", "617", "021", 15),
    ("Worcester", "MA", "508", "016", 6), ("Indianapolis", "IN", "317", "462", 20),
    ("Baltimore", "MD", "410", "212", 18), ("Kansas City", "MO", "816", "641", 9),
    ("St. Louis", "MO", "314", "631", 9), ("Milwaukee", "WI", "414", "532", 11),
    ("Madison", "WI", "608", "537", 6), ("Denver", "CO", "303", "802", 13),
    ("Colorado Springs", "CO", "719", "809", 4), ("Minneapolis", "MN", "612", "554", 12),
    ("Saint Paul", "MN", "651", "551", 5), ("Charleston", "SC", "843", "294", 8),
    ("Columbia", "SC", "803", "292", 8), ("Birmingham", "AL", "205", "352", 15),
    ("New Orleans", "LA", "504", "701", 14), ("Louisville", "KY", "502", "402", 13),
    ("Portland", "OR", "503", "972", 13), ("Oklahoma City", "OK", "405", "731", 12),
    ("Hartford", "CT", "860", "061", 11), ("Salt Lake City", "UT", "801", "841", 10),
    ("Las Vegas", "NV", "702", "891", 10), ("Des Moines", "IA", "515", "503", 10),
    ("Little Rock", "AR", "501", "722", 9), ("Jackson", "MS", "601", "392", 9),
    ("Wichita", "KS", "316", "672", 9), ("Albuquerque", "NM", "505", "871", 6),
    ("Omaha", "NE", "402", "681", 6), ("Boise", "ID", "208", "837", 6),
    ("Charleston", "WV", "304", "253", 5), ("Honolulu", "HI", "808", "968", 4),
    ("Manchester", "NH", "603", "031", 4), ("Portland", "ME", "207", "041", 4),
    ("Providence", "RI", "401", "029", 3), ("Billings", "MT", "406", "591", 3),
    ("Wilmington", "DE", "302", "198", 3), ("Sioux Falls", "SD", "605", "571", 3),
    ("Fargo", "ND", "701", "581", 2), ("Anchorage", "AK", "907", "995", 2),
    ("Burlington", "VT", "802", "054", 2), ("Cheyenne", "WY", "307", "820", 2),
    ("Washington", "DC", "202", "200", 2),
)
STREETS: tuple[str, ...] = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Sunset", "Lincoln", "Jackson", "Highland", "Church", "Mill", "River", "Spring", "Ridge",
    "Forest", "Meadow", "Madison", "Franklin", "Jefferson", "Chestnut", "Walnut", "1st", "2nd",
    "3rd", "4th", "5th", "Broadway", "Market", "Union", "Cherry", "Willow", "Birch", "Lakeview",
    "Valley", "Adams", "Center", "Harbor", "Bay", "Summit", "Prospect", "Martin Luther King Jr",
    "Cesar Chavez", "Peachtree", "Sycamore", "Aspen",
)
STREET_SUFFIXES: tuple[tuple[str, int], ...] = (
    ("St", 30), ("Ave", 22), ("Rd", 12), ("Dr", 10), ("Ln", 7), ("Blvd", 6), ("Way", 5),
    ("Ct", 4), ("Pl", 2), ("Pkwy", 2),
)
ADDRESS2_PREFIXES: tuple[str, ...] = ("Apt", "Apt", "Unit", "Suite", "#", "Apt.")
COMPANIES: tuple[str, ...] = (
    "Acme Corp", "Globex", "Initech", "Umbrella Health", "Wayne Enterprises", "Contoso",
    "Fabrikam", "Tailspin Toys", "Wide World Importers", "Northwind Traders", "Soylent",
    "Hooli", "Vandelay Industries", "Dunder Mifflin",
)
CHANNELS: tuple[tuple[str, int], ...] = (
    ("Online", 45), ("Store", 30), ("Mobile App", 17), ("Marketplace", 8),
)
BRANDS: tuple[tuple[str, int], ...] = (
    ("Summit Trail", 35), ("Harbor & Pine", 25), ("Kestrel", 20), ("Velo Sport", 12),
    ("Ridgeline Kids", 8),
)
PAYMENT_METHODS: tuple[tuple[str, int], ...] = (
    ("Credit Card", 50), ("Debit Card", 18), ("PayPal", 12), ("Apple Pay", 10),
    ("Gift Card", 5), ("Klarna", 5),
)
# (category, weight, median unit price in USD, subcategories); with ~2.5 lines of ~1.2 units,
# some discounts and 5 % returns an order is worth about $80 on average
CATEGORIES: tuple[tuple[str, int, float, tuple[str, ...]], ...] = (
    ("Apparel", 30, 19.0,
     ("T-Shirts", "Shirts", "Pants", "Shorts", "Dresses", "Sweaters", "Activewear")),
    ("Shoes", 20, 43.0, ("Running", "Hiking", "Casual", "Sandals", "Boots")),
    ("Accessories", 14, 10.0, ("Hats", "Gloves", "Belts", "Sunglasses", "Watches", "Scarves")),
    ("Socks", 12, 6.0, ("Crew", "Ankle", "Wool", "Compression")),
    ("Outerwear", 9, 56.0, ("Jackets", "Rain Shells", "Parkas", "Vests", "Fleece")),
    ("Bags", 8, 28.0, ("Backpacks", "Duffels", "Totes", "Hip Packs")),
    ("Equipment", 7, 21.0, ("Bottles", "Headlamps", "Trekking Poles", "Tents")),
)
ITEM_QUANTITIES: tuple[tuple[int, int], ...] = ((1, 85), (2, 10), (3, 3), (4, 1), (6, 1))
DISCOUNT_PERCENTS: tuple[int, ...] = (10, 15, 20, 25, 30, 40)
LOYALTY_TIERS: tuple[tuple[str, float], ...] = (
    # (tier, minimum lifetime revenue): tiers follow spend, as loyalty programmes do
    ("Platinum", 5000.0), ("Gold", 2000.0), ("Silver", 500.0), ("Bronze", 0.0),
)
# fmt: on
