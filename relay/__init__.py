"""The webhook relay: verifies, stores and routes provider webhooks to their workflows.

``POST /webhooks/{provider}`` checks the HMAC signature over the raw bytes, stores the raw
event once per event id, and signals the workflow named by the event's reference. It
answers 2xx only once the event is durably stored, so a provider retries anything the
relay could not keep.
"""
