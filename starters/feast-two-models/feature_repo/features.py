"""The feature definitions both models read: entities, sources, views, services."""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

customer = Entity(
    name="customer", join_keys=["customer_id"], value_type=ValueType.STRING
)
application = Entity(
    name="application", join_keys=["application_id"], value_type=ValueType.STRING
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=400),
    schema=[
        Field(name="age", dtype=Int64),
        Field(name="annual_income", dtype=Float64),
        Field(name="employment_years", dtype=Float64),
        Field(name="credit_history_months", dtype=Int64),
        Field(name="num_open_accounts", dtype=Int64),
        Field(name="num_late_payments_2y", dtype=Int64),
        Field(name="home_ownership", dtype=String),
        Field(name="region", dtype=String),
    ],
    source=FileSource(
        name="customer_profile_source",
        path="data/customer_profile.parquet",
        timestamp_field="event_timestamp",
    ),
)
application_features = FeatureView(
    name="application_features",
    entities=[application],
    ttl=timedelta(days=30),
    schema=[
        Field(name="loan_amount", dtype=Float64),
        Field(name="loan_term_months", dtype=Int64),
        Field(name="interest_rate", dtype=Float64),
        Field(name="debt_to_income", dtype=Float64),
        Field(name="loan_purpose", dtype=String),
    ],
    source=FileSource(
        name="applications_source",
        path="data/applications.parquet",
        timestamp_field="event_timestamp",
    ),
)
customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=14),  # weekly snapshots: older than two weeks is stale
    schema=[
        Field(name="late_payments_90d", dtype=Int64),
        Field(name="utilization", dtype=Float64),
    ],
    source=FileSource(
        name="customer_activity_source",
        path="data/customer_activity.parquet",
        timestamp_field="event_timestamp",
    ),
)

# Model 1 decides on a new loan application: the customer and the loan.
credit_decision = FeatureService(
    name="credit_decision", features=[customer_profile, application_features]
)
# Model 2 watches existing customers each week: the same profile view, plus the
# customer's recent payment behaviour; no application involved.
early_warning = FeatureService(
    name="early_warning", features=[customer_profile, customer_activity]
)
