"""Map Stock: wiring only. Routes live in chalicelib/web/routes, events in chalicelib/handlers."""

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent, S3Event, SQSEvent

from chalicelib import config
from chalicelib.handlers import s3, schedules, sqs
from chalicelib.web import cors, envelope, head
from chalicelib.web.routes import auth, health, maps, multipart, site, stac, uploads, users

app = Chalice(app_name="mapstock")
for blueprint in (health.bp, auth.bp, users.bp, uploads.bp, multipart.bp, maps.bp):
    app.register_blueprint(blueprint, url_prefix="/v1")
app.register_blueprint(stac.bp)  # STAC API 1.0 at /stac (its routes carry their own prefix)
app.register_blueprint(site.bp)  # the web application: /, /maps/{id}, /static/{name}, …
head.install(app)  # HEAD wherever GET is: GET's status and headers, no body
cors.install(app)  # OPTIONS on every path: the CORS preflight
envelope.install(app)


# Uploads (maps/{id}/original) and external results (maps/{id}/external/{job}/result|error).
@app.on_s3_event(bucket=config.bucket_name(), events=["s3:ObjectCreated:*"], prefix="maps/")
def on_upload(event: S3Event) -> None:
    s3.register_uploads(event.to_dict())


@app.on_sqs_message(queue=config.queue_name(), batch_size=10)
def on_processing_job(event: SQSEvent) -> dict:
    # The invocation's remaining time caps the jobs' time budgets.
    remaining_ms = event.context.get_remaining_time_in_millis() if event.context else None
    return sqs.process_batch(event.to_dict(), remaining_ms)


@app.on_sqs_message(queue=config.dead_letter_queue_name(), batch_size=10)
def on_dead_letter(event: SQSEvent) -> dict:
    return sqs.dead_letters(event.to_dict())


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sweeper(event: CloudWatchEvent) -> dict:
    return schedules.sweep()


@app.schedule(Rate(1, unit=Rate.DAYS))
def orphan_sweeper(event: CloudWatchEvent) -> dict:
    return schedules.sweep_orphans()
