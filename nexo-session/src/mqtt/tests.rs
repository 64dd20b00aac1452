//! Scenario tests of the MQTT session.
