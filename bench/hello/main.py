"""The cold-start baseline: a hello-world CloudEvent function, started like ours."""

import functions_framework
from cloudevents.http.event import CloudEvent


@functions_framework.cloud_event
def hello(event: CloudEvent) -> None:
    print(f"hello {event['id']}")
