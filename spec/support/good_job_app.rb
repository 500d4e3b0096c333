require "rbconfig"

# The Rails app on GoodJob that spec/good_job_spec.rb and the busy-dyno spec
# run in real processes (spec/apps/good_job/). The real GoodJob and its
# `good_job start` run where GoodJob can be had: GOOD_JOB_LIB names its lib
# directory (its sources, e.g. v3.99.1: Debian does not package it; after
# it, colon-separated, those of gems it needs newer than Debian's), or its
# gem is installed (GitHub Actions, through the Gemfile). Elsewhere, as in
# .ci/run, a stand-in that writes and takes GoodJob's rows as GoodJob does.
module GoodJobApp
  DIR = File.expand_path("../apps/good_job", __dir__)
  # GoodJob's lib directory, then those of any gems it needs newer than the
  # machine's (GoodJob 4: concurrent-ruby 1.3, fugit 1.11, et-orbi 1.4).
  LIBS = ENV.fetch("GOOD_JOB_LIB", "").split(":").map { |dir| File.expand_path(dir) }
  LIB = LIBS.first
  GEM = LIB.nil? && !Gem::Specification.find_all_by_name("good_job").empty?

  module_function

  def real? = !LIB.nil? || GEM

  def library
    if LIB then "GoodJob from #{LIB}"
    elsif GEM then "GoodJob #{Gem::Specification.find_by_name("good_job").version}"
    else "the GoodJob stand-in (set GOOD_JOB_LIB for the real one)"
    end
  end

  # The environment of every process of the app. `jobs`: a Ruby file that
  # defines its job classes.
  def env(database_url:, jobs:)
    lib = File.expand_path("../../lib", __dir__)
    { "DATABASE_URL" => database_url, "GOOD_JOB_APP_JOBS" => jobs, "RUBYLIB" => [lib, *LIBS].join(":"),
      "GOOD_JOB_APP_LIBRARY" => real? ? "good_job" : "stand-in", "GOOD_JOB_MAX_THREADS" => "1" }
  end

  # A worker dyno's command: `good_job start` (GoodJob loads the app from
  # the current directory), or the stand-in's loop.
  def worker_command
    if real?
      executable = LIB ? File.join(LIB, "../exe/good_job") : "-S good_job"
      "cd #{DIR} && exec #{RbConfig.ruby} #{executable} start --poll-interval=1 --max-threads=1"
    else
      "exec #{RbConfig.ruby} #{File.join(DIR, "worker.rb")}"
    end
  end

  # Ruby that loads the app (for an enqueuing process).
  def boot = "require #{File.join(DIR, "config/environment").inspect}"
end
