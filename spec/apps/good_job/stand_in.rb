# GoodJob as the specs meet it where GoodJob cannot be had (CI has no
# fetched code and Debian does not package it; with GOOD_JOB_LIB set, the
# real GoodJob runs instead, see config/environment.rb). A stand-in for the
# library only: it writes GoodJob 3.99's rows as GoodJob writes them
# (spec/support/good_job_schema.rb), takes jobs as GoodJob's advisory-lock
# strategy takes them, and offers the names the gem's adapter meets:
# GoodJob::Adapter, GoodJob::Job, GoodJob::JobPerformer#next, and
# GoodJob.configuration.cron (read from GOOD_JOB_CRON, as GoodJob reads it).
require "json"
require "securerandom"
require "socket"

module GoodJob
  class Job < ActiveRecord::Base
    self.table_name = "good_jobs"
  end

  class Process < ActiveRecord::Base
    self.table_name = "good_job_processes"
  end

  Configuration = Struct.new(:cron)

  def self.configuration
    @configuration ||= Configuration.new(ENV["GOOD_JOB_CRON"] ? JSON.parse(ENV["GOOD_JOB_CRON"], symbolize_names: true) : {})
  end

  def self.lock_key(table, value) = "('x' || substr(md5(#{Job.connection.quote("#{table}-#{value}")}), 1, 16))::bit(64)::bigint"

  # Enqueues as GoodJob 3.99 does: a discrete row, `scheduled_at` only for a
  # job scheduled ahead.
  class Adapter
    def enqueue(job) = enqueue_at(job, nil)

    def enqueue_at(job, timestamp)
      Job.create!(id: SecureRandom.uuid, active_job_id: job.job_id, queue_name: job.queue_name, priority: job.priority,
                  serialized_params: job.serialize, scheduled_at: timestamp && Time.at(timestamp).utc,
                  job_class: job.class.name, is_discrete: true, executions_count: 0)
    end
  end

  # A worker process's row, advisory-locked on a connection of its own for
  # the process's life, as GoodJob's notifier holds it.
  class ProcessRecord
    attr_reader :id

    def initialize
      @id = SecureRandom.uuid
      @conn = Process.connection_pool.checkout
      @conn.execute("SELECT pg_advisory_lock(#{GoodJob.lock_key("good_job_processes", @id)})")
      state = { hostname: Socket.gethostname, pid: ::Process.pid, proctitle: $PROGRAM_NAME }
      Process.create!(id: @id, state: state, lock_type: 1)
    end

    def unregister
      Process.where(id: @id).delete_all
      Job.where(locked_by_id: @id).update_all(locked_by_id: nil, locked_at: nil)
      @conn.execute("SELECT pg_advisory_unlock_all()")
    end
  end

  # Takes the first due, unfinished job whose advisory lock it gets, on the
  # connection that holds the lock while the job runs (GoodJob 3.99's
  # perform_with_advisory_lock), and performs it through Active Job.
  class JobPerformer
    def initialize(process) = @process = process

    def next
      Job.connection_pool.with_connection do |conn|
        candidates = Job.where(finished_at: nil).where("scheduled_at IS NULL OR scheduled_at <= ?", Time.now.utc)
                        .order(Arel.sql("priority ASC NULLS LAST, created_at ASC")).limit(20).pluck(:id, :active_job_id)
        candidates.each do |id, active_job_id|
          key = GoodJob.lock_key("good_jobs", active_job_id)
          next unless conn.select_value("SELECT pg_try_advisory_lock(#{key})")

          begin
            return perform(Job.find(id)) if Job.where(id: id, finished_at: nil).exists?
          ensure
            conn.execute("SELECT pg_advisory_unlock(#{key})")
          end
        end
        nil
      end
    end

    private

    def perform(job)
      job.update!(performed_at: Time.now.utc, locked_by_id: @process.id, locked_at: Time.now.utc,
                  executions_count: job.executions_count.to_i + 1)
      error = begin
        ActiveJob::Base.execute(job.serialized_params)
        nil
      rescue StandardError => e
        "#{e.class}: #{e.message}"
      end
      job.update!(finished_at: Time.now.utc, locked_by_id: nil, locked_at: nil, error: error)
      true
    end
  end

  # `good_job start`, as far as the specs need: poll every `poll` seconds,
  # stop taking jobs at SIGTERM and exit once the job at hand is done.
  def self.work(poll: 0.5)
    stopping = false
    %w[TERM INT].each { |signal| trap(signal) { stopping = true } }
    process = ProcessRecord.new
    performer = JobPerformer.new(process)
    until stopping
      found = performer.next
      sleep poll unless found
    end
    process.unregister
  end
end

module ActiveJob
  module QueueAdapters
    class GoodJobAdapter < GoodJob::Adapter; end
  end
end
