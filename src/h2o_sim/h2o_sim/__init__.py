"""h2o_sim: a PyBullet wheel-legged robot with adjustable dynamics, as a Gymnasium env.

Importing the package registers the Gymnasium ids in :data:`h2o_sim.registration.ENV_IDS`
(cheap: pybullet is imported only when an env or simulator is built).
"""

from h2o_sim.registration import ENV_IDS, register_envs

register_envs()

__all__ = ["ENV_IDS", "register_envs"]
