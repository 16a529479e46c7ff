"""speed up land release summaries: covering indexes for the figures

Hazard areas are wide rows (three geometries, evidence, notes), and their contamination types
sit in TOAST, so reading 100,000 of them for the summary meant scanning 376 MB of heap plus a
TOAST fetch per hazard area. The summary needs a dozen small columns of each: these indexes
hold them, so PostgreSQL answers the summary's per-hazard and per-release steps with index-only
scans (the pages the visibility map marks all-visible, which VACUUM - or autovacuum - keeps up).
The columns are the ones ``clearance/reports/service.py`` reads (``HAZARD_FIGURE_COLUMNS``,
``SOURCES``); the models declare the same indexes.

- ``ix_hazard_areas_summary``: by id, so that looking a hazard area up (tasks, items, QA
  visits) is index-only too.
- ``ix_land_releases_hazard_area_id``: the existing index by hazard area, now carrying what
  the figures read of a release, in hazard order (the per-hazard sums stream without hashing).

And statistics for the planner, which otherwise guesses the number of groups of a summary badly:
an admin area's code and name go together (not 40 x 40 pairs, but 40), and a release's month
has a few dozen values, not one per release. With the right count, PostgreSQL sums the 300,000
releases in parallel workers, each hashing into a few thousand groups, instead of one process
building a hash table sized for 300,000 groups. The expressions are exactly those of the
summary's ``month`` and ``year`` keys (``_dims`` in clearance/reports/service.py): statistics
on expressions only apply to the same expression.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAZARD_INCLUDE = [
    "programme_id",
    "review_status",
    "classification",
    "contamination_types",
    "area_m2",
    "admin1_code",
    "admin1_name",
    "admin2_code",
    "admin2_name",
    "beneficiaries_women",
    "beneficiaries_men",
    "beneficiaries_girls",
    "beneficiaries_boys",
]
RELEASE_INCLUDE = [
    "programme_id",
    "review_status",
    "release_date",
    "area_m2",
    "method",
    "activity",
    "organisation_id",
    "id",
]


STATISTICS = {
    "st_hazard_areas_admin1": "(ndistinct) ON admin1_code, admin1_name FROM hazard_areas",
    "st_hazard_areas_admin2": "(ndistinct) ON admin2_code, admin2_name FROM hazard_areas",
    "st_land_releases_month": "ON (date_trunc('month', release_date::timestamp)::date) FROM land_releases",
    "st_land_releases_year": "ON (extract(year FROM release_date)::int) FROM land_releases",
}


def upgrade() -> None:
    op.create_index("ix_hazard_areas_summary", "hazard_areas", ["id"], postgresql_include=HAZARD_INCLUDE)
    op.drop_index("ix_land_releases_hazard_area_id", table_name="land_releases")
    op.create_index(
        "ix_land_releases_hazard_area_id",
        "land_releases",
        ["hazard_area_id"],
        postgresql_include=RELEASE_INCLUDE,
    )
    for name, definition in STATISTICS.items():
        op.execute(f"CREATE STATISTICS {name} {definition}")


def downgrade() -> None:
    for name in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
    op.drop_index("ix_land_releases_hazard_area_id", table_name="land_releases")
    op.create_index("ix_land_releases_hazard_area_id", "land_releases", ["hazard_area_id"])
    op.drop_index("ix_hazard_areas_summary", table_name="hazard_areas")
