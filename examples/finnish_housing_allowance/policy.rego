# General housing allowance (Laki yleisestä asumistuesta 938/2014), simplified monthly amount.
package dl.finnish_housing_allowance

# 8 §: the allowance is this share of (acceptable costs - basic deductible); 70 % since 2024.
support_rate := 0.7

# 16 §: basic deductible = 50 % of income above the full-support income
# (base + per adult + per child, 2025 amounts); a deductible under 10 € is not taken into account.
deductible_rate := 0.5

income_base := 667

income_per_adult := 94

income_per_child := 296

minimum_deductible := 10

# 10 §: maximum housing costs by municipality group and household size (1, 2, 3, 4 persons),
# plus an amount for each further person. ILLUSTRATIVE figures, except group 3 / 1 person
# (447 €, as applied in 2025); replace with the indexed amounts in force.
maximum_costs := {
	1: {"sizes": [616, 883, 1076, 1265], "extra": 184},
	2: {"sizes": [547, 787, 961, 1118], "extra": 171},
	3: {"sizes": [447, 648, 799, 935], "extra": 136},
	4: {"sizes": [400, 574, 709, 831], "extra": 124},
}

persons := input.adults + input.children

group := maximum_costs[input.municipality_group]

maximum := group.sizes[persons - 1] if persons <= 4

else := group.sizes[3] + (persons - 4) * group.extra

acceptable := min([input.monthly_housing_costs, maximum])

costs_capped if input.monthly_housing_costs > maximum

# Income is considered in whole euros.
income := round(input.monthly_gross_income)

full_support_income := (income_base + input.adults * income_per_adult) + input.children * income_per_child

raw_deductible := max([0, deductible_rate * (income - full_support_income)])

deductible := 0 if raw_deductible < minimum_deductible

else := raw_deductible

cents(x) := round(x * 100) / 100

raw_allowance := support_rate * (acceptable - deductible)

allowance := cents(raw_allowance) if input.resides_in_finland

else := 0

eligible if allowance > 0

amounts := {
	"monthly_allowance": max([allowance, 0]),
	"maximum_housing_costs": maximum,
	"acceptable_housing_costs": acceptable,
	"income_considered": income,
	"basic_deductible": cents(deductible),
}

reason(code, message, ref) := {"code": code, "message": message, "legal_ref": ref}

# Reasons, in order: residence, cap, deductible, outcome.
residence_reasons := [reason("NOT_RESIDENT", "Only persons residing in Finland belong to the household for housing allowance", "yat_2")] if {
	not input.resides_in_finland
} else := []

cap_reasons := [reason("HOUSING_COSTS_CAPPED", sprintf("Housing costs are taken into account up to the maximum of %v euros", [maximum]), "yat_10")] if {
	input.resides_in_finland
	costs_capped
} else := []

deductible_reasons := [reason("BASIC_DEDUCTIBLE", sprintf("Basic deductible of %v euros from income above %v euros", [cents(deductible), full_support_income]), "yat_16")] if {
	input.resides_in_finland
	deductible > 0
} else := []

outcome_reasons := [reason("ALLOWANCE_GRANTED", sprintf("Allowance is 70 %% of acceptable housing costs less the basic deductible: %v euros", [allowance]), "yat_8")] if {
	eligible
} else := [reason("NO_ALLOWANCE", "The basic deductible covers the acceptable housing costs, or the household does not qualify", "yat_8")]

decision := object.union(
	object.union(amounts, {"eligible": eligible_bool}),
	{"reasons": array.concat(array.concat(residence_reasons, cap_reasons), array.concat(deductible_reasons, outcome_reasons))},
)

eligible_bool := true if eligible

else := false
