# Transaction risk assessment: additive score, thresholds 70 (block) and 40 (review).
package dl.risk_assessment

high_risk_countries := {"XX", "YY", "ZZ"}

points := {
	"high_amount": 30,
	"elevated_amount": 15,
	"previous_fraud": 40,
	"new_account": 20,
	"low_activity": 10,
	"high_risk_country": 25,
	"night_transaction": 10,
	"mobile_device": 5,
}

# The order in which factors are reported.
factor_order := [
	"high_amount", "elevated_amount", "previous_fraud", "new_account",
	"low_activity", "high_risk_country", "night_transaction", "mobile_device",
]

applies contains "high_amount" if input.amount > 10000

applies contains "elevated_amount" if {
	input.amount > 5000
	input.amount <= 10000
}

applies contains "previous_fraud" if input.previous_fraud == true

applies contains "new_account" if input.account_age_days < 30

applies contains "low_activity" if input.transaction_count < 5

applies contains "high_risk_country" if input.country in high_risk_countries

applies contains "night_transaction" if input.time_of_day == "night"

applies contains "mobile_device" if input.device_type == "mobile"

factors := [name | some name in factor_order; applies[name]]

score := sum([points[name] | some name in factors])

level := "high" if score >= 70
else := "medium" if score >= 40
else := "low"

recommendation := {"high": "block", "medium": "review", "low": "approve"}[level]

level_reason := {
	"code": sprintf("RISK_%s", [upper(level)]),
	"message": sprintf("Risk score %d gives risk level %s (%s)", [score, level, recommendation]),
	"legal_ref": "aml_fi",
}

factor_reasons := [r |
	some name in factors
	r := {
		"code": sprintf("FACTOR_%s", [upper(name)]),
		"message": sprintf("Risk factor %s adds %d points", [name, points[name]]),
		"legal_ref": "aml_eu",
	}
]

decision := {
	"risk_score": score,
	"risk_level": level,
	"recommendation": recommendation,
	"risk_factors": factors,
	"reasons": array.concat([level_reason], factor_reasons),
}
