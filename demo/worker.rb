# One demo worker process (what `rake jobs:work` is on Heroku): works jobs off
# the demo database, with the gem loaded so the worker that finishes the last
# job fires the workforce. Started and stopped by the local formation.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__), __dir__
require "database"
require "jobs"
DemoDatabase.connect(ENV.fetch("DEMO_DATABASE"))
require "middle_management"

$stdout.sync = true
Delayed::Worker.max_run_time = 120 # a demo job killed mid-way is soon runnable again
Delayed::Worker.new(sleep_delay: 0.2, quiet: true).start
