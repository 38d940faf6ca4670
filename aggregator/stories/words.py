"""Words that say nothing about which event a text reports, in English and Spanish, as clustering stems."""

from __future__ import annotations

from functools import cache

from aggregator.text import fold_for_story_words

# Spanish function words, plus the reporting verbs and fillers news prose in both languages is full of.
_SPANISH = """
a al algo algunas algunos ante antes aquel aquella aquellas aquellos aqui asi aun aunque bajo bien cada casi
como con contra cual cuales cuando cuanto de del desde donde dos durante el ella ellas ello ellos en entre era
eran es esa esas ese eso esos esta estaba estaban estado estan estar estas este esto estos fue fueron ha habia
han hasta hay la las le les lo los mas me mi mientras muy nada ni no nos nosotros o otra otras otro otros para
pero poco por porque que quien quienes se sea segun ser si sido sin sino sobre su sus tambien tan tanto te tiene
tienen todo todos tras tu un una unas uno unos y ya yo dijo dice senalo indico informo afirmo agrego explico
asimismo ademas luego hoy ayer manana pasado tiene hacer hecho puede pueden parte vez veces
"""
_ENGLISH_EXTRA = """
said says told according also would could new one two three year years week today yesterday tuesday monday
wednesday thursday friday saturday sunday added including percent mr ms news report reported reports
"""


# Spanish words of the beat with their English counterparts, so a story and its translation share stems where
# the words are not cognates. Only pairs where both sides name the same thing in news about this beat.
_SPANISH_ENGLISH = """
pastillas:pills pastilla:pill pepinos:cucumbers decomiso:seizure decomisan:seize decomisaron:seized
aseguran:seize aseguraron:seized aseguramiento:seizure incautan:seize incautaron:seized incautacion:seizure
frontera:border fronterizo:border fronteriza:border garita:port aduana:customs agentes:agents oficiales:officers
detenido:arrested detenidos:arrested detienen:arrest detuvieron:arrested arresto:arrest captura:capture
capturan:capture capturado:captured muertos:dead muerto:dead asesinados:killed asesinan:kill asesinato:murder
homicidio:homicide heridos:wounded herido:wounded ataque:attack atentado:attack balacera:shooting tiroteo:shooting
enfrentamiento:clash enfrentamientos:clashes armas:weapons arma:weapon armados:armed disparos:shots
casquillos:casings comando:gunmen sicarios:gunmen camion:truck camioneta:pickup camionetas:pickups
trailer:trailer tractocamion:tractor caja:trailer conductor:driver chofer:driver carga:cargo cargamento:shipment
droga:drugs drogas:drugs metanfetamina:methamphetamine cocaina:cocaine kilos:kilograms kilogramos:kilograms
libras:pounds millones:million millon:million mil:thousand dolares:dollars pesos:pesos
migrantes:migrants migrante:migrant rescatan:rescue rescataron:rescued rescate:rescue encerrados:locked
patrulla:patrol fronteriza:border guardia:guard ejercito:army marina:navy fiscalia:prosecutor fiscal:prosecutor
juez:judge tribunal:court corte:court sentencia:sentence condenado:sentenced extradicion:extradition
extraditado:extradited acusado:charged acusacion:indictment cargos:charges lavado:laundering dinero:money
sanciones:sanctions sanciona:sanctions tesoro:treasury departamento:department estado:state estados:states
unidos:united gobierno:government presidente:president secretario:secretary embajada:embassy
designacion:designation designa:designates terrorista:terrorist terroristas:terrorists terrorismo:terrorism
organizacion:organization extranjera:foreign grupo:group grupos:groups lider:leader lideres:leaders jefe:boss
alianza:alliance alianzas:alliances vinculos:ties nexos:links red:network redes:networks empresas:companies
informe:report estudio:study investigacion:investigation investigadores:researchers
tunel:tunnel muro:wall puente:bridge cruce:crossing puerto:port entrada:entry mexicano:mexican mexicana:mexican
estadounidense:american policia:police policias:police victimas:victims cuerpos:bodies fosa:grave fosas:graves
secuestro:kidnapping secuestrados:kidnapped extorsion:extortion desaparecidos:disappeared taller:workshop
entrenamiento:training entrenan:train capacitacion:training contrabando:smuggling traficantes:traffickers
narcotraficantes:traffickers rutas:routes ruta:route facciones:factions faccion:faction celulas:cells celula:cell
cabecillas:leaders capos:kingpins militar:military militares:military estrategia:strategy amenaza:threat
seguridad:security inteligencia:intelligence beneficio:benefit beneficios:benefits mutuo:mutual mutuos:mutual
delitos:crimes crimen:crime organizado:organized jerarquia:hierarchy pequenas:smaller pequenos:smaller
fragmentacion:fragmentation fragmentan:fragment dispersas:dispersed dispersos:dispersed socios:partners
apoyo:support logistico:logistical recursos:resources intercambio:exchange intercambian:exchange
"""


@cache
def spanish_to_english(stem: int) -> dict[str, str]:
    """Spanish stem -> English stem for the glossary above."""
    pairs = (line.split(":") for line in _SPANISH_ENGLISH.split())
    fold = fold_for_story_words
    return {fold(es)[:stem]: fold(en)[:stem] for es, en in pairs if fold(es)[:stem] != fold(en)[:stem]}


@cache
def stopword_stems(stem: int) -> frozenset[str]:
    """Every stopword folded and cut to `stem` characters, the form the clusterer compares."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # here: scikit-learn costs start-up time

    words = set(ENGLISH_STOP_WORDS) | set(_SPANISH.split()) | set(_ENGLISH_EXTRA.split())
    return frozenset(fold_for_story_words(w)[:stem] for w in words)


@cache
def counterparts() -> dict[str, tuple[str, ...]]:
    """Each whole word of the glossary (folded) -> its words in the other language, Spanish to English and back:
    what a full-text query needs to find the other language's items (the index holds whole words, not stems)."""
    out: dict[str, list[str]] = {}
    for es, en in (line.split(":") for line in _SPANISH_ENGLISH.split()):
        es, en = fold_for_story_words(es), fold_for_story_words(en)
        if es == en:
            continue
        out.setdefault(es, []).append(en)
        out.setdefault(en, []).append(es)
    return {word: tuple(dict.fromkeys(others)) for word, others in out.items()}
