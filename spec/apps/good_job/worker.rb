# The stand-in's `good_job start` (real GoodJob runs its own executable).
require_relative "config/environment"
GoodJob.work
