"""Feature handlers: each subpackage is one product capability."""
