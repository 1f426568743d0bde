"""Cold-start baselines, started exactly like jobwarden's functions.

`hello`: a hello-world CloudEvent function (the target's baseline).
`config_only`: the least any jobwarden function does before it can act: validate its
configuration file with pydantic, the design card's choice for it (the floor).
"""

import functions_framework
from cloudevents.http.event import CloudEvent


@functions_framework.cloud_event
def hello(event: CloudEvent) -> None:
    print(f"hello {event['id']}")


@functions_framework.cloud_event
def config_only(event: CloudEvent) -> None:
    from jobwarden.config import load_config

    settings = load_config()  # JOBWARDEN_CONFIG, as the functions read it
    print(f"config_only {event['id']}: {len(settings.clusters)} cluster(s)")
