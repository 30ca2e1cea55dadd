# Healthcare eligibility: ordered rules, first match wins, default deny.
package dl.healthcare_eligibility

status := input.patient_residency_status

condition := input.medical_condition

cost := object.get(input, "treatment_cost", 0)

result(code, approved, level, reason, share, ref) := {
	"code": code,
	"ref": ref,
	"output": {"approved": approved, "coverage_level": level, "reason": reason, "cost_share": share},
}

outcome := result("EMERGENCY_CARE_ALL", true, "emergency_only", "Emergency care available to all patients", 0, "thl_50") if {
	condition == "emergency"
} else := result("CITIZEN_FULL_COVERAGE", true, "full", "Citizen eligible for full healthcare coverage", 10, "thl") if {
	status == "citizen"
	condition != "emergency"
} else := result("PERMANENT_RESIDENT_COVERAGE", true, "partial", "Permanent resident eligible for partial healthcare coverage", 20, "residence") if {
	status == "permanent_resident"
	condition != "emergency"
} else := result("TEMPORARY_RESIDENT_EMERGENCY", true, "emergency_only", "Temporary resident eligible for emergency care", 50, "thl_50") if {
	# Unreachable, as in the prototype: rule 1 decides every emergency.
	status == "temporary_resident"
	condition == "emergency"
} else := result("VISITOR_EMERGENCY_ONLY", true, "emergency_only", "Visitor eligible for emergency care only", 100, "thl_50") if {
	# Unreachable, as in the prototype.
	status == "visitor"
	condition == "emergency"
} else := result("HIGH_COST_REVIEW", true, "partial", "High cost treatment requires additional review", 30, "fees") if {
	# Unreachable, as in the prototype: rule 2 decides every non-emergency citizen case.
	cost > 10000
	status == "citizen"
} else := result("CRITERIA_NOT_MET", false, "none", "Eligibility criteria not met", 100, "residence")

decision := object.union(outcome.output, {"reasons": [{
	"code": outcome.code,
	"message": outcome.output.reason,
	"legal_ref": outcome.ref,
}]})
