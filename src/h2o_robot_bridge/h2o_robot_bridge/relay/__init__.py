"""Adapters to a ros2_control robot: ``/joint_commands`` to forward-command controllers with a
watchdog (:mod:`.command`, how to connect: its docstring), joint names and controller orders
(:mod:`.names`), the ``command_relay`` parameters (:mod:`.config`)."""
