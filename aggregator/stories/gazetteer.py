"""The beat's places and armed groups in English and Spanish, each under one language-neutral name with its parent."""

from __future__ import annotations

from functools import cache

from aggregator.text import fold_for_rules

# One place a line: "name < parent: alias, alias". The name is the language-neutral key (English, folded); the
# parent is the place that contains it (a crossing in its city, a city in its state, a state in its country), so
# "Culiacán" and "Sinaloa" agree while "Nogales" and "Lukeville" do not. An alias in capitals (US, EU, CDMX) only
# matches in capitals, so the pronoun "us" is not a country; a place with two parents (Nogales, on both sides of the
# line) agrees with both.
_PLACES = """
united states: United States, Estados Unidos, US, USA, U.S., U.S.A., EEUU, EE.UU., EE. UU., EUA
mexico: Mexico, Republica Mexicana
canada: Canada
guatemala: Guatemala
honduras: Honduras
el salvador: El Salvador
nicaragua: Nicaragua
costa rica: Costa Rica
panama: Panama
colombia: Colombia
venezuela: Venezuela
ecuador: Ecuador
peru: Peru
bolivia: Bolivia
chile: Chile
argentina: Argentina
brazil: Brazil, Brasil
paraguay: Paraguay
uruguay: Uruguay
cuba: Cuba
haiti: Haiti
dominican republic: Dominican Republic, Republica Dominicana
jamaica: Jamaica
trinidad and tobago: Trinidad and Tobago, Trinidad y Tobago, Trinidad
puerto rico < united states: Puerto Rico
spain: Spain, Espana
france: France, Francia
netherlands: Netherlands, Paises Bajos, Holanda
belgium: Belgium, Belgica
germany: Germany, Alemania
italy: Italy, Italia
united kingdom: United Kingdom, Reino Unido, Britain, Gran Bretana, UK
european union: European Union, Union Europea, UE, EU
china: China
india: India
russia: Russia, Rusia
ukraine: Ukraine, Ucrania
turkey: Turkey, Turquia
iran: Iran
iraq: Iraq, Irak
syria: Syria, Siria
lebanon: Lebanon, Libano
israel: Israel
gaza: Gaza, Franja de Gaza
afghanistan: Afghanistan, Afganistan
pakistan: Pakistan
yemen: Yemen
somalia: Somalia
nigeria: Nigeria
mali: Mali
niger: Niger
burkina faso: Burkina Faso
mozambique: Mozambique
philippines: Philippines, Filipinas
caribbean: Caribbean, Caribe, Mar Caribe, Caribbean Sea
pacific: Pacific, Pacifico, Oceano Pacifico, Pacific Ocean
eastern pacific < pacific: Eastern Pacific, Pacifico oriental, Pacifico Este
gulf of mexico: Gulf of Mexico, Golfo de Mexico, Gulf of America, Golfo de America
atlantic: Atlantic, Atlantico
rio grande < united states | mexico: Rio Grande, Rio Bravo
darien < panama: Darien, Darien Gap, Tapon del Darien
washington dc < united states: Washington, Washington D.C., Washington DC
california < united states: California
arizona < united states: Arizona
new mexico < united states: New Mexico, Nuevo Mexico
texas < united states: Texas
florida < united states: Florida
illinois < united states: Illinois
new york < united states: New York, Nueva York
san diego < california: San Diego
los angeles < california: Los Angeles
calexico < california: Calexico
otay mesa < san diego: Otay Mesa
san ysidro < san diego: San Ysidro
phoenix < arizona: Phoenix
tucson < arizona: Tucson
lukeville < arizona: Lukeville
douglas < arizona: Douglas
yuma < arizona: Yuma
santa teresa < new mexico: Santa Teresa
el paso < texas: El Paso
laredo < texas: Laredo
eagle pass < texas: Eagle Pass
del rio < texas: Del Rio
hidalgo < texas | tamaulipas | mexico: Hidalgo
mcallen < texas: McAllen
pharr < texas: Pharr
brownsville < texas: Brownsville
houston < texas: Houston
dallas < texas: Dallas
san antonio < texas: San Antonio
austin < texas: Austin
miami < florida: Miami
chicago < illinois: Chicago
baja california < mexico: Baja California
sonora < mexico: Sonora
chihuahua < mexico: Chihuahua
coahuila < mexico: Coahuila
nuevo leon < mexico: Nuevo Leon
tamaulipas < mexico: Tamaulipas
sinaloa < mexico: Sinaloa
durango < mexico: Durango
zacatecas < mexico: Zacatecas
jalisco < mexico: Jalisco
michoacan < mexico: Michoacan
guerrero < mexico: Guerrero
oaxaca < mexico: Oaxaca
chiapas < mexico: Chiapas
veracruz < mexico: Veracruz
guanajuato < mexico: Guanajuato
morelos < mexico: Morelos
puebla < mexico: Puebla
estado de mexico < mexico: Estado de Mexico, Edomex, State of Mexico
colima < mexico: Colima
nayarit < mexico: Nayarit
tabasco < mexico: Tabasco
quintana roo < mexico: Quintana Roo
yucatan < mexico: Yucatan
campeche < mexico: Campeche
queretaro < mexico: Queretaro
san luis potosi < mexico: San Luis Potosi
mexico city < mexico: Mexico City, Ciudad de Mexico, CDMX
tijuana < baja california: Tijuana
mexicali < baja california: Mexicali
tecate < baja california: Tecate
ensenada < baja california: Ensenada
rosarito < baja california: Rosarito, Playas de Rosarito
nogales < arizona | sonora: Nogales, Mariposa
agua prieta < sonora: Agua Prieta
san luis rio colorado < sonora: San Luis Rio Colorado
sonoyta < sonora: Sonoyta
hermosillo < sonora: Hermosillo
caborca < sonora: Caborca
ciudad obregon < sonora: Ciudad Obregon, Cajeme
ciudad juarez < chihuahua: Ciudad Juarez, Juarez
ojinaga < chihuahua: Ojinaga
piedras negras < coahuila: Piedras Negras
ciudad acuna < coahuila: Ciudad Acuna, Acuna
torreon < coahuila: Torreon
monterrey < nuevo leon: Monterrey
nuevo laredo < tamaulipas: Nuevo Laredo
reynosa < tamaulipas: Reynosa
matamoros < tamaulipas: Matamoros
tampico < tamaulipas: Tampico
ciudad victoria < tamaulipas: Ciudad Victoria
culiacan < sinaloa: Culiacan
mazatlan < sinaloa: Mazatlan
navolato < sinaloa: Navolato
los mochis < sinaloa: Los Mochis
guadalajara < jalisco: Guadalajara
puerto vallarta < jalisco: Puerto Vallarta
zapopan < jalisco: Zapopan
teuchitlan < jalisco: Teuchitlan
fresnillo < zacatecas: Fresnillo
morelia < michoacan: Morelia
uruapan < michoacan: Uruapan
apatzingan < michoacan: Apatzingan
lazaro cardenas < michoacan: Lazaro Cardenas
aguililla < michoacan: Aguililla
tierra caliente < michoacan | guerrero: Tierra Caliente
acapulco < guerrero: Acapulco
chilpancingo < guerrero: Chilpancingo
iguala < guerrero: Iguala
tapachula < chiapas: Tapachula
tuxtla gutierrez < chiapas: Tuxtla Gutierrez
chicomuselo < chiapas: Chicomuselo
frontera comalapa < chiapas: Frontera Comalapa
manzanillo < colima: Manzanillo
celaya < guanajuato: Celaya
santa rosa de lima < guanajuato: Santa Rosa de Lima
irapuato < guanajuato: Irapuato
cancun < quintana roo: Cancun
coatzacoalcos < veracruz: Coatzacoalcos
cuernavaca < morelos: Cuernavaca
toluca < estado de mexico: Toluca
bogota < colombia: Bogota
medellin < colombia: Medellin
cali < colombia: Cali
cucuta < colombia: Cucuta
cartagena < colombia: Cartagena
buenaventura < colombia: Buenaventura
catatumbo < colombia: Catatumbo
caracas < venezuela: Caracas
aragua < venezuela: Aragua
zulia < venezuela: Zulia
quito < ecuador: Quito
guayaquil < ecuador: Guayaquil
esmeraldas < ecuador: Esmeraldas
azuay < ecuador: Azuay
lima < peru: Lima
pataz < peru: Pataz
callao < peru: Callao
santiago < chile: Santiago
antofagasta < chile: Antofagasta
iquique < chile: Iquique
la paz < bolivia: La Paz
buenos aires < argentina: Buenos Aires
rosario < argentina: Rosario
sao paulo < brazil: Sao Paulo
rio de janeiro < brazil: Rio de Janeiro
guatemala city < guatemala: Guatemala City, Ciudad de Guatemala
tegucigalpa < honduras: Tegucigalpa
san pedro sula < honduras: San Pedro Sula
san salvador < el salvador: San Salvador
managua < nicaragua: Managua
san jose cr < costa rica: San Jose
limon < costa rica: Limon, Moin
panama city < panama: Panama City, Ciudad de Panama
port-au-prince < haiti: Port-au-Prince, Puerto Principe
havana < cuba: Havana, La Habana
santo domingo < dominican republic: Santo Domingo
madrid < spain: Madrid
barcelona < spain: Barcelona
algeciras < spain: Algeciras
rotterdam < netherlands: Rotterdam
antwerp < belgium: Antwerp, Amberes
paris < france: Paris
london < united kingdom: London, Londres
"""

# Spanish text calls the United States "EU"; `specifics` reads that alias by the item's language.
SPANISH_EU = "united states"

SEAS = frozenset({"caribbean", "pacific", "gulf of mexico", "atlantic"})

# Armed groups and criminal organisations: "name < parent: aliases", a faction under its organisation. Matched
# before places, so the "Sinaloa" of "Cártel de Sinaloa" and the "Aragua" of "Tren de Aragua" are not places.
_GROUPS = """
sinaloa cartel: Sinaloa Cartel, Cartel de Sinaloa, Sinaloa cartel, Cartel del Pacifico
chapitos < sinaloa cartel: Los Chapitos, Chapitos
mayiza < sinaloa cartel: La Mayiza, Mayiza
cjng: CJNG, Jalisco New Generation Cartel, Jalisco Cartel, Cartel Jalisco Nueva Generacion, Cartel de Jalisco
gulf cartel: Gulf Cartel, Cartel del Golfo
northeast cartel: Cartel del Noreste, Northeast Cartel, CDN
zetas: Los Zetas, Zetas
juarez cartel: Juarez Cartel, Cartel de Juarez, La Linea
tijuana cartel: Tijuana Cartel, Cartel de Tijuana, Arellano Felix
beltran leyva: Beltran Leyva, Beltran-Leyva
familia michoacana: La Nueva Familia Michoacana, Familia Michoacana, La Familia Michoacana
carteles unidos: Carteles Unidos, United Cartels
santa rosa de lima cartel: Cartel de Santa Rosa de Lima, Santa Rosa de Lima Cartel
guerreros unidos: Guerreros Unidos
viagras: Los Viagras, Viagras
ardillos: Los Ardillos, Ardillos
tren de aragua: Tren de Aragua
ms-13: MS-13, MS13, Mara Salvatrucha
barrio 18: Barrio 18, Calle 18, Mara 18, 18th Street
clan del golfo: Clan del Golfo, Gulf Clan, Autodefensas Gaitanistas, EGC
eln: ELN, National Liberation Army, Ejercito de Liberacion Nacional
farc: FARC, FARC dissidents, disidencias de las FARC
los lobos: Los Lobos
los choneros: Los Choneros, Choneros
pcc: PCC, Primeiro Comando da Capital, Primer Comando de la Capital
comando vermelho: Comando Vermelho
cartel de los soles: Cartel de los Soles, Cartel of the Suns
hezbollah: Hezbollah, Hezbola
hamas: Hamas
islamic state: Islamic State, Estado Islamico, ISIS, ISIL, Daesh
al qaeda: Al Qaeda, al-Qaeda, Al Qaida, Al-Qaida
al shabaab: Al Shabaab, al-Shabaab
boko haram: Boko Haram
"""


def _folded(alias: str) -> tuple[str, ...]:
    """An alias as the tuple of words `specifics` looks up: accents off, dots dropped, hyphens splitting."""
    plain = fold_for_rules(alias).replace(".", "").replace("-", " ")
    return tuple(plain.split())


Table = tuple[dict[tuple[str, ...], str], dict[str, tuple[str, ...]], dict[str, str]]


def _parse(block: str) -> Table:
    names: dict[tuple[str, ...], str] = {}
    parents: dict[str, tuple[str, ...]] = {}
    shown: dict[str, str] = {}
    for line in block.strip().splitlines():
        head, aliases = line.split(":", 1)
        name, _, parent = (part.strip() for part in head.partition("<"))
        if parent:
            parents[name] = tuple(p.strip() for p in parent.split("|"))
        for alias in (a.strip() for a in aliases.split(",")):
            shown.setdefault(name, fold_for_rules(alias))
            words = _folded(alias)
            if not alias.replace(".", "").replace(" ", "").isupper():
                words = tuple(w.lower() for w in words)  # an acronym stays in capitals: it only matches so
            names.setdefault(words, name)
    return names, parents, shown


@cache
def places() -> Table:
    """Place aliases (word tuples, lower case unless an acronym) -> name; name -> parents; name -> how it is shown."""
    return _parse(_PLACES)


@cache
def groups() -> Table:
    """Group aliases -> name; faction -> organisations; name -> how it is shown."""
    return _parse(_GROUPS)


def ancestors(name: str, parents: dict[str, tuple[str, ...]]) -> set[str]:
    """Every place (or organisation) that contains `name`."""
    out: set[str] = set()
    todo = list(parents.get(name, ()))
    while todo:
        up = todo.pop()
        if up not in out:
            out.add(up)
            todo.extend(parents.get(up, ()))
    return out


@cache
def depth(name: str) -> int:
    """How deep a place sits: 0 a country or sea, 1 a state, 2 a city, 3 a crossing in a city. A place the gazetteer
    does not know ("in Chicomuselo") counts as a city."""
    parents = places()[1]
    if name not in parents and name not in places()[2]:
        return 2
    if name in SEAS:
        return 1  # a sea is narrower than the countries around it: Caribbean and Pacific strikes differ
    return max((depth(up) + 1 for up in parents.get(name, ())), default=0)
