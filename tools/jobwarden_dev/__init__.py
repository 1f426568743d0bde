"""jobwarden_dev: the development tooling, never shipped in a function bundle or an image.

The local stack (`localstack`, behind the tests, `make up` and `make run`), the push bridge
standing in for Eventarc (`bridge`), the function bundler (`bundle`, `make bundle`), the Helm
values-schema generator (`helmschema`) and the `jobwarden` console command (`cli`: the
runtime's user commands plus `run`, the demo). It stands on the runtime package
`jobwarden` and starts the exporter (`jobwarden_exporter`) as a program.
"""
