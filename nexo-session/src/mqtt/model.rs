//! Model-based test: QoS 2 exactly once.
