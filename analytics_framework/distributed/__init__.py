"""Running the stages on a cluster: Ray Core tasks for sharded collects (``--executor ray``)."""
