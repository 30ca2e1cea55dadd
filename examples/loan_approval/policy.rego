# Loan approval: ordered rules, the first rule whose conditions hold decides; default deny.
package dl.loan_approval

# Optional inputs read with a neutral default so that a missing field never matches a rule
# that tests it (the prototype did not apply the declared "standard" tier default).
tier := object.get(input, "customer_tier", "")

employment := object.get(input, "employment_status", "")

# The prototype's `is_empty`: income missing or zero.
income_missing if not input.monthly_income

income_missing if input.monthly_income == 0

result(code, approved, reason, limit, risk, ref) := {
	"code": code,
	"ref": ref,
	"output": {"approved": approved, "reason": reason, "limit": limit, "risk_level": risk},
}

outcome := result("MINIMUM_CREDIT_SCORE", false, "Credit score below minimum threshold", 0, "high", "ksl_7_14") if {
	input.customer_score < 500
} else := result("HIGH_AMOUNT_LOW_SCORE", false, "Amount too high for credit score", 5000, "high", "ksl_7_14") if {
	input.amount > 10000
	input.customer_score < 650
} else := result("STANDARD_TIER_LIMIT", false, "Amount exceeds standard tier limit", 5000, "medium", "ksl_7") if {
	tier == "standard"
	input.amount > 5000
} else := result("INCOME_VERIFICATION_REQUIRED", false, "Income verification required for large amounts", 5000, "medium", "ksl_7_14") if {
	input.amount > 5000
	income_missing
} else := result("DEBT_TO_INCOME_CHECKED", true, "Large loan approved with income verification", 25000, "low", "ksl_7_14") if {
	input.amount > 10000
	input.monthly_income > 0
} else := result("PREMIUM_GOOD_SCORE", true, "Premium customer with good credit score", 50000, "low", "ksl_7_14") if {
	tier == "premium"
	input.customer_score >= 700
} else := result("VIP_CUSTOMER", true, "VIP customer approved", 100000, "low", "ksl_7") if {
	tier == "vip"
} else := result("SMALL_PERSONAL_LOAN", true, "Small personal loan approved", 5000, "low", "ksl_7_14") if {
	input.amount <= 5000
	employment == "employed"
	input.customer_score >= 600
} else := result("CRITERIA_NOT_MET", false, "Decision criteria not met", 0, "high", "ksl_7")

decision := object.union(outcome.output, {"reasons": [{
	"code": outcome.code,
	"message": outcome.output.reason,
	"legal_ref": outcome.ref,
}]})
