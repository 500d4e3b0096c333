# Real Delayed Job on ActiveRecord and SQLite, with the demo's job table.
require "tmpdir"
require_relative "../../demo/database"

module DelayedJobDatabase
  module_function

  def connect(path = File.join(Dir.mktmpdir("middle_management"), "jobs.sqlite3"))
    DemoDatabase.connect(path, create: true, pool: 20) # ten worker threads and the gem's own
    Delayed::Worker.sleep_delay = 0.05
    Delayed::Worker.max_attempts = 2
    path
  end
end
