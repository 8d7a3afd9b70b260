package synth

const (
	loinc    = "http://loinc.org"
	snomed   = "http://snomed.info/sct"
	interpCS = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	v20074   = "http://terminology.hl7.org/CodeSystem/v2-0074"
	obsCat   = "http://terminology.hl7.org/CodeSystem/observation-category"
	actCode  = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	condCS   = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	condCat  = "http://terminology.hl7.org/CodeSystem/condition-category"
	ucum     = "http://unitsofmeasure.org"
)

type analyte struct {
	code, display, unit string
	low, high           float64
}

type panel struct {
	code, display, category string
	analytes                []analyte
}

// Lab panels; category is the v2-0074 diagnostic service section.
var labPanels = []panel{
	{"58410-2", "CBC panel - Blood by Automated count", "HM", []analyte{
		{"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12, 16},
		{"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4, 11},
		{"777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400},
	}},
	{"24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", "CH", []analyte{
		{"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135, 145},
		{"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1},
		{"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.2},
		{"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99},
		{"1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 7, 56},
	}},
	{"24348-5", "Free T4 and TSH panel - Serum or Plasma", "CH", []analyte{
		{"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0},
		{"3024-7", "Thyroxine (T4) free [Mass/volume] in Serum or Plasma", "ng/dL", 0.8, 1.8},
	}},
	{"1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "CH", []analyte{
		{"1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 0, 10},
	}},
}

// Monitoring panel for the chronic condition filler histories carry.
var hba1c = panel{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "CH", []analyte{
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 5.6},
}}

type study struct {
	code, display, category, specialty string
	procedure                          string // SNOMED procedure code, "" when none
	procDisplay                        string
}

// Imaging, endoscopy and physiology studies; category is a v2-0074 code,
// or SNOMED 423827005 Endoscopy (v2-0074 has no endoscopy section), with the specialty that
// usually requests them.
var studies = []study{
	{"24558-9", "US Abdomen", "RUS", "394584008", "", ""},
	{"24590-2", "MR Brain", "NMR", "394591006", "", ""},
	{"11524-6", "EKG study", "EC", "394579002", "", ""},
	{"34552-0", "Cardiac 2D echo panel", "CUS", "394579002", "", ""},
	{"18746-8", "Colonoscopy study", "423827005", "394584008", "73761001", "Colonoscopy"},
	{"28014-9", "Upper GI endoscopy study", "423827005", "394584008", "76009000", "Esophagogastroduodenoscopy"},
}

var specialtyNames = map[string]string{
	"394579002": "Cardiology",
	"394584008": "Gastroenterology",
	"394591006": "Neurology",
	"394810000": "Rheumatology",
	"394814009": "General practice",
	"394587001": "Psychiatry",
}

// Specialties a pattern patient is referred to, in order.
var referralSpecialties = []string{"394579002", "394584008", "394591006", "394810000"}
