"""Task allocation for the episodes people code (seed paper §2.1).

Queues by coder specialty, expected coding effort, business priority, an optimal assignment of a
day's episodes to a roster, and a backlog simulation comparing routing policies.
"""

from triage.allocation.allocator import AllocationResult, Allocator
from triage.allocation.config import (
    AllocationConfig,
    AllocationConfigError,
    default_config_path,
    load_config,
)
from triage.allocation.effort import EffortModel
from triage.allocation.episodes import EpisodeInputError, prepare_episodes
from triage.allocation.priority import PriorityScorer
from triage.allocation.queues import QueueMapper
from triage.allocation.roster import Roster, RosterError, example_roster, make_roster
from triage.allocation.simulate import (
    PolicyFileError,
    SimulatedRouting,
    SimulationResult,
    compare_policies,
    simulate_backlog,
    synthetic_arrivals,
)
from triage.allocation.solver import AssignmentSolution, solve_assignment
from triage.codes.chapters import chapter_of_label, normalise_chapter

__all__ = [
    "AllocationConfig",
    "AllocationConfigError",
    "AllocationResult",
    "Allocator",
    "AssignmentSolution",
    "EffortModel",
    "EpisodeInputError",
    "PolicyFileError",
    "PriorityScorer",
    "QueueMapper",
    "Roster",
    "RosterError",
    "SimulatedRouting",
    "SimulationResult",
    "chapter_of_label",
    "compare_policies",
    "default_config_path",
    "example_roster",
    "load_config",
    "make_roster",
    "normalise_chapter",
    "prepare_episodes",
    "simulate_backlog",
    "solve_assignment",
    "synthetic_arrivals",
]
