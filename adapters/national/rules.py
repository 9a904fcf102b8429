"""The national rules: stable id, OperationOutcome issue type, English and Latvian wording.

Same shape as ``adapters.validation.messages``. Issue types (http://hl7.org/fhir/issue-type)
decide the HTTP status at the REST edge: national rules use business-rule, code-invalid,
security, not-found and not-supported, which answer 422 (the JSON is valid FHIR, the content
breaks the national standard).
"""
from __future__ import annotations

from ehr_core.errors import Issue

# rule id -> (issue type, English template, Latvian template)
RULES: dict[str, tuple[str, str, str]] = {
    # --- the personal code (../shared/standards/personal-code.md) --------------------------
    "evk-pc-format": ("code-invalid", "{detail}", "Personas kods {code!r} nav 11 cipari (DDMMGG-CNNNQ vai 3XXXXX-XXXXX)"),
    "evk-pc-date": ("code-invalid", "{detail}", "Personas koda {code!r} datums nav reāls kalendāra datums"),
    "evk-pc-century": ("code-invalid", "{detail}", "Personas koda {code!r} gadsimta cipars nav 0, 1 vai 2"),
    "evk-pc-check-digit": ("code-invalid", "{detail}", "Personas koda {code!r} kontrolcipars nav pareizs"),
    "evk-pc-legacy-after-2017": ("code-invalid", "{detail}",
                                 "Vecā formāta personas kodu {code!r} nepiešķir personām, kas dzimušas pēc 2017. gada 30. jūnija"),
    "evk-pc-check-digit-new": ("code-invalid", "{detail}",
                               "Jaunā formāta personas koda {code!r} kontrolcipars neatbilst (neoficiālajam) publicētajam algoritmam"),
    "evk-pc-birthdate": ("business-rule",
                         "The personal code {code!r} encodes birth date {encoded}, but birthDate is {birth_date}",
                         "Personas kods {code!r} norāda dzimšanas datumu {encoded}, bet birthDate ir {birth_date}"),
    "evk-pc-cardinality": ("business-rule", "A patient may have at most one current personal code, found {count}",
                           "Pacientam drīkst būt ne vairāk kā viens spēkā esošs personas kods, atrasti {count}"),
    "evk-patient-identity": ("business-rule",
                             "A patient needs a personal code, or both birthDate and gender when there is none",
                             "Pacientam jānorāda personas kods vai, ja tā nav, gan dzimšanas datums, gan dzimums"),
    # --- identifiers and codes ---------------------------------------------------------------
    "evk-id-system-missing": ("business-rule", "An identifier must name its system",
                              "Identifikatoram jānorāda sistēma (system)"),
    "evk-id-system-unregistered": ("code-invalid",
                                   "Identifier system {system!r} is not registered nationally (no NamingSystem in the EVK package)",
                                   "Identifikatoru sistēma {system!r} nav reģistrēta nacionālajā standartā"),
    "evk-identifier-duplicate": ("duplicate",
                                 "{system}|{value} already belongs to {stored}; use a conditional create or update",
                                 "{system}|{value} jau pieder resursam {stored}; lietojiet nosacīto izveidi vai atjaunināšanu"),
    "evk-coding-system-relative": ("code-invalid", "Coding.system {system!r} must be an absolute URI",
                                   "Coding.system {system!r} jābūt absolūtam URI"),
    "evk-loinc-format": ("code-invalid", "{code!r} is not a LOINC code (NNNNN-C)",
                         "{code!r} nav LOINC kods (NNNNN-C)"),
    "evk-loinc-check-digit": ("code-invalid", "LOINC code {code!r} fails its check digit (should be {expected})",
                              "LOINC koda {code!r} kontrolcipars nav pareizs (jābūt {expected})"),
    "evk-icd10-format": ("code-invalid", "{code!r} is not an ICD-10 code (A00 or A00.0)",
                         "{code!r} nav SSK-10 kods (A00 vai A00.0)"),
    "evk-icd10-unknown": ("code-invalid", "{code!r} is not in ICD-10 (WHO 2019)",
                          "{code!r} nav SSK-10 klasifikācijā (PVO 2019)"),
    "evk-icd10-not-specific": ("code-invalid", "ICD-10 {code!r} has subcategories: use the most specific code",
                               "SSK-10 kodam {code!r} ir apakškategorijas: jānorāda precīzākais kods"),
    "evk-loinc-unknown": ("code-invalid", "LOINC {code!r} is not in the national LOINC subset",
                          "LOINC kods {code!r} nav nacionālajā LOINC apakškopā"),
    "evk-snomed-subset": ("code-invalid", "SNOMED CT {code!r} is outside the national SNOMED CT subset",
                          "SNOMED CT kods {code!r} nav nacionālajā SNOMED CT apakškopā"),
    "evk-atc-format": ("code-invalid", "{code!r} is not an ATC code (A, A10, A10B, A10BA or A10BA02)",
                       "{code!r} nav ATĶ kods (A, A10, A10B, A10BA vai A10BA02)"),
    "evk-atc-level": ("code-invalid",
                      "ATC {code!r} is a level {level} group: a medication is coded at substance level "
                      "(7 characters, e.g. N02BE01)",
                      "ATĶ kods {code!r} ir {level}. līmeņa grupa: zālēm jānorāda vielas līmeņa kods "
                      "(7 rakstzīmes, piem., N02BE01)"),
    "evk-atc-unknown": ("code-invalid", "{code!r} is not in the ATC classification (version {version})",
                        "{code!r} nav ATĶ klasifikācijā (versija {version})"),
    "evk-atc-unconfirmed": ("code-invalid",
                            "{code!r} is not in the ATC subset EVK ships (version {version}); it cannot be confirmed",
                            "{code!r} nav EVK piegādātajā ATĶ apakškopā (versija {version}); to nevar apstiprināt"),
    "evk-ucum": ("code-invalid", "{unit!r} is not a valid UCUM unit (e.g. /min, mm[Hg], {{beats}}/min)",
                 "{unit!r} nav derīga UCUM mērvienība (piem., /min, mm[Hg], {{beats}}/min)"),
    "evk-extension-not-allowed": ("business-rule", "{where} {url!r} is not an extension the national standard allows",
                                  "{where} {url!r} nav nacionālajā standartā atļauts paplašinājums"),
    "evk-extension-context": ("business-rule", "Extension {url!r} may be used on {contexts}, not on {owner}",
                              "Paplašinājumu {url!r} drīkst lietot tikai {contexts}, nevis {owner}"),
    "evk-snomed-id": ("code-invalid", "{code!r} is not a valid SNOMED CT concept id ({problem})",
                      "{code!r} nav derīgs SNOMED CT koncepta identifikators ({problem})"),
    "evk-attachment-hash": ("business-rule", "Attachment.hash does not match the SHA-1 of the data",
                            "Attachment.hash neatbilst datu SHA-1 vērtībai"),
    "evk-attachment-content-type": ("business-rule", "Content type {content_type!r} is not allowed in a submission",
                                    "Satura tips {content_type!r} iesniegumā nav atļauts"),
    # --- dates --------------------------------------------------------------------------------
    "evk-birthdate-future": ("business-rule", "Birth date {value} is in the future",
                             "Dzimšanas datums {value} ir nākotnē"),
    "evk-birthdate-too-early": ("business-rule", "Birth date {value} is before 1850",
                                "Dzimšanas datums {value} ir pirms 1850. gada"),
    # --- content -----------------------------------------------------------------------------
    "evk-server-owned": ("business-rule", "{element} is set by the server; leave it out of a submission",
                         "{element} nosaka serveris; iesniegumā to nenorāda"),
    "evk-narrative-active": ("security", "The narrative contains active content: {what}",
                             "Teksta (narrative) daļā ir aktīvs saturs: {what}"),
    "evk-profile-unknown": ("not-supported", "Unknown national profile {profile!r}",
                            "Nezināms nacionālais profils {profile!r}"),
    "evk-profile-type": ("business-rule", "Profile {profile!r} constrains {expected}, not {found}",
                         "Profils {profile!r} attiecas uz {expected}, nevis {found}"),
    # --- references --------------------------------------------------------------------------
    "evk-ref-type": ("business-rule", "{element} may refer to {allowed}, not to {found}",
                     "{element} drīkst atsaukties uz {allowed}, nevis uz {found}"),
    "evk-ref-unresolved": ("not-found", "Reference {reference!r} resolves neither inside the Bundle nor in the store",
                           "Atsauce {reference!r} neatrodas ne paketē (Bundle), ne krātuvē"),
    "evk-ref-contained-missing": ("not-found", "Reference {reference!r} names no contained resource",
                                  "Atsauce {reference!r} nenorāda uz iekļautu (contained) resursu"),
    # --- the submission envelope (https://hl7.org/fhir/R4/http.html#transaction) -------------
    "evk-bundle-type": ("invalid", "A submission is a Bundle of type transaction, not {found!r}",
                        "Iesniegumam jābūt Bundle ar tipu transaction, nevis {found!r}"),
    "evk-entry-request": ("invalid", "A transaction entry needs request.method and request.url",
                          "Transakcijas ierakstam jānorāda request.method un request.url"),
    "evk-entry-method": ("invalid", "Method {method!r} is not allowed in a submission",
                         "Metode {method!r} iesniegumā nav atļauta"),
    "evk-entry-url": ("invalid", "request.url {url!r} does not match the resource type {found}",
                      "request.url {url!r} neatbilst resursa tipam {found}"),
    "evk-fullurl-relative": ("invalid", "fullUrl {url!r} is not an absolute URI",
                             "fullUrl {url!r} nav absolūts URI"),
    "evk-fullurl-duplicate": ("invalid", "fullUrl {url!r} repeats Bundle.entry[{first}].fullUrl",
                              "fullUrl {url!r} atkārto Bundle.entry[{first}].fullUrl"),
    "evk-resource-type-endpoint": ("not-supported", "This endpoint takes {expected}, not {found!r}",
                                   "Šis galapunkts pieņem {expected}, nevis {found!r}"),
    "evk-valid": ("informational", "No issues: the content is valid", "Kļūdu nav: saturs ir derīgs"),
}


def issue(rule: str, expression: str, *, severity: str = "error", **params: object) -> Issue:
    code, en, lv = RULES[rule]
    return Issue(severity, code, en.format(**params), (expression,), rule, lv.format(**params))
