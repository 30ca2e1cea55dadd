# Refund policy: base refund by issue, times the tier multiplier, truncated, capped by the order.
package dl.refund_policy

base_refunds := {"late": 100, "damaged": 50, "wrong_item": 75, "none": 0}

multipliers := {"bronze": 1.0, "silver": 1.1, "gold": 1.2, "platinum": 1.5}

# The prototype printed the multiplier as a Python float.
multiplier_labels := {"bronze": "1.0", "silver": "1.1", "gold": "1.2", "platinum": "1.5"}

# Defaults of the prototype: issue "none", tier "bronze", order amount 0.
issue := object.get(input, "issue", "none")

tier := object.get(object.get(input, "customer", {}), "tier", "bronze")

order_amount := object.get(input, "order_amount", 0)

base := base_refunds[issue]

multiplier := multipliers[tier]

refund := min([floor(base * multiplier), order_amount])

reason := sprintf("%s issue with %s tier (multiplier: %s)", [issue, tier, multiplier_labels[tier]]) if {
	refund > 0
} else := "No refund applicable"

reason_codes := {"late": "LATE_DELIVERY", "damaged": "DAMAGED_ITEM", "wrong_item": "WRONG_ITEM"}

legal_refs := {"late": "ksl_5", "damaged": "eu_2019_771", "wrong_item": "eu_2019_771"}

grounds := {"code": reason_codes[issue], "legal_ref": legal_refs[issue]} if {
	refund > 0
} else := {"code": "NO_REFUND", "legal_ref": "ksl_5"}

decision := {
	"refund_amount": refund,
	"reason": reason,
	"issue_type": issue,
	"customer_tier": tier,
	"tier_multiplier": multiplier,
	"base_refund": base,
	"order_amount": order_amount,
	"decision_function": data.decision_layer.function.id,
	"version": data.decision_layer.function.version,
	"reasons": [{"code": grounds.code, "message": reason, "legal_ref": grounds.legal_ref}],
}
