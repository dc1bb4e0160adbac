"""Activity funding requests (DOMAIN.md section 6): the smallest procedure.

Its workflow, ``workflows/activity_funding.yaml``, needs only the engine's generic guards and
effects and the generic case pages, so the package adds nothing but its demo requests. It is
the example the README's "Adding a procedure" walks through.
"""

from pbflow.procedures import Procedure
from pbflow.procedures.activity_funding import demo

procedure = Procedure(
    name="activity_funding",
    workflows=("activity_funding",),
    demo=demo.load,
)
