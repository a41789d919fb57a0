"""The daemon's runtime core: device supervision, readings, topics, report-by-exception,
shared resources and the registry of driver kinds."""
