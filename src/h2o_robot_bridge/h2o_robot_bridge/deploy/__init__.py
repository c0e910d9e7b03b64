"""Run exported policies (and the classical controller) on the robot, behind a safety layer.

- :mod:`.onnx_policy`: load and check an ONNX policy artifact (:class:`OnnxPolicy`);
- :mod:`.safety`: guards, latches, fade-in, rate limit, the final command check;
- :mod:`.runner`: the control-step core (:class:`PolicyRunner`), no ROS;
- :mod:`.diagnostics`: loop timing statistics;
- :mod:`.config`: the deploy node's settings and policy resolution.
"""
