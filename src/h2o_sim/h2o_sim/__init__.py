"""h2o_sim: a PyBullet wheel-legged robot with adjustable dynamics, as a Gymnasium env."""
