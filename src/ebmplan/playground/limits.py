"""Every bound on what a page may ask of the server, in one place (the page states them beside its controls)."""

MAX_BODY_BYTES = 2 * 2**20  # any HTTP request body, an upload included
MAX_MESSAGE_BYTES = 2 * 2**20  # one websocket message (painted points travel in one)
MAX_POINTS = 20000  # painted or uploaded points
GRID = 48  # the heat map is GRID x GRID energies over the view (smoothed by the page when drawn)
CHAINS = 200  # live gradient-descent samples shown on the energy page
NEGATIVES_SHOWN = 200  # negatives of each kind sent per frame
FRAME_SECONDS = 0.25  # a frame every 0.25 s of training: 4 redraws per second
PARTICLE_STEPS = 300  # steps of a dropped particle's descent, at most

# The recipe's numbers: (smallest, largest) the page accepts.
RECIPE_BOUNDS = {"width": (1, 512), "depth": (1, 8), "steps": (1, 100000), "lr": (1e-6, 1.0),
                 "margin": (0.0, 100.0)}

MAX_DRAWN_CELLS = 32  # a drawn or loaded map: at most 32 x 32 cells before scaling
MAX_RESIZE = 8
MAX_MAP_CELLS = 160  # a scaled map: at most 160 cells a side
MAX_FREE_CELLS = 8000  # the ground-truth table that scores a plan holds (free cells)^2 int16 entries: 128 MB
MAX_NODES = 1000  # a plan's node budget
MAX_DIST = 20.0  # the edge cutoff: the agent's distances end at 20 bins
MAX_PLAN_STEPS = 1000
MAX_EDGES_SHOWN = 20000
MAX_AGENT_STEPS = 200000
MAX_GEN_STEPS = 20000
NAME_CHARACTERS = 64  # a run folder's name
