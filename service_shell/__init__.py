"""The shared service shell every service runs on.

HTTP serving (web, hotroutes, httplimits, apidocs, requestauth), HTTP reading (rawhttp),
storage (db, migrations_env), keys, settings, supervision of background tasks, metrics,
events, the clock, logs, CLI helpers and the process runtime.
"""
