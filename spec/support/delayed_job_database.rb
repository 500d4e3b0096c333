# Real Delayed Job on ActiveRecord and SQLite, with the demo's job table
# and, unless `store: false`, the coordination store's.
require "tmpdir"
require_relative "../../demo/database"

module DelayedJobDatabase
  module_function

  def connect(path = File.join(Dir.mktmpdir("middle_management"), "jobs.sqlite3"), store: true, create: true)
    DemoDatabase.connect(path, create: create, pool: 20, store: store) # ten worker threads and the gem's own
    Delayed::Worker.sleep_delay = 0.05
    Delayed::Worker.max_attempts = 2
    path
  end

  # Between examples: no job, and a store that remembers no earlier decision.
  def clear
    Delayed::Job.delete_all
    table = MiddleManagement::Store::SQL::TABLE
    ActiveRecord::Base.connection.execute("DELETE FROM #{table}") if ActiveRecord::Base.connection.table_exists?(table)
  end
end
