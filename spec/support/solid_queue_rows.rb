require "json"
require "securerandom"

# Writes rows in Solid Queue's tables (SolidQueueSchema) as Solid Queue
# 1.5.0 writes them, through ActiveRecord as it does (times in UTC, each
# value cast by its column's type), since Solid Queue itself cannot run
# here. What each step leaves, from its published models:
# - enqueue (Job.enqueue): a solid_queue_jobs row, scheduled_at now unless
#   later, then its execution with the job's queue and priority: ready when
#   due, scheduled (with scheduled_at) when later, blocked (with its
#   concurrency key and expires_at, the job class's concurrency duration
#   from now) when due but its key is taken;
# - time passing with no dispatcher running: a scheduled execution now due;
# - claim (ReadyExecution.claim): the ready row deleted, a claimed row for
#   the job and the claiming worker's process id;
# - a process row per supervisor and worker: kind, name "<kind>-<20 hex>",
#   pid, hostname, JSON metadata, last_heartbeat_at (touched every 60 s);
# - a pause row per paused queue; a recurring task row per configured task.
class SolidQueueRows
  TABLES = %w[ready_executions scheduled_executions blocked_executions claimed_executions jobs pauses processes
              recurring_tasks].freeze # executions first: they refer to their jobs

  def initialize(model)
    @models = TABLES.to_h do |table|
      [table.to_sym, Class.new(model) do
        self.table_name = "solid_queue_#{table}"
        define_singleton_method(:name) { "SolidQueueRows::#{table}" }
      end]
    end
  end

  def [](table) = @models.fetch(table)

  # The job's id. `at`: when it is due (nil: now); `blocked_until`: it is
  # due but blocked by its concurrency key until then.
  def enqueue(queue: "default", class_name: "ReportJob", priority: 0, at: nil, concurrency_key: nil, blocked_until: nil)
    now = Time.now.utc
    active_job_id = SecureRandom.uuid
    arguments = { "job_class" => class_name, "job_id" => active_job_id, "queue_name" => queue, "arguments" => [] }
    job = self[:jobs].create!(queue_name: queue, class_name: class_name, priority: priority, active_job_id: active_job_id,
                              arguments: JSON.generate(arguments), scheduled_at: at || now,
                              concurrency_key: concurrency_key || (blocked_until && "#{class_name}/1"))
    execution = { job_id: job.id, queue_name: queue, priority: priority }
    if at && at > now
      self[:scheduled_executions].create!(execution.merge(scheduled_at: at))
    elsif blocked_until
      self[:blocked_executions].create!(execution.merge(concurrency_key: job.concurrency_key, expires_at: blocked_until))
    else
      self[:ready_executions].create!(execution)
    end
    job.id
  end

  # A job scheduled for later whose time came `ago` seconds since, while no
  # dispatcher ran to make it ready (none runs with no worker dyno up): its
  # scheduled execution is still there, now due.
  def overdue(ago: 1, **job)
    id = enqueue(at: Time.now.utc + 3600, **job)
    at = Time.now.utc - ago
    self[:jobs].where(id: id).update_all(scheduled_at: at)
    self[:scheduled_executions].where(job_id: id).update_all(scheduled_at: at)
    id
  end

  # A worker's claim of a ready job (`process_id` nil: a claim whose
  # process is missing).
  def claim(job_id, process_id)
    self[:jobs].transaction do
      self[:ready_executions].where(job_id: job_id).delete_all == 1 or raise ArgumentError, "job #{job_id} is not ready"
      self[:claimed_executions].create!(job_id: job_id, process_id: process_id)
    end
  end

  # A registered process's id: a worker under a supervisor, as `bin/jobs` starts them.
  def process(kind: "Worker", hostname: "7f3e2a1c-9b4d-4e6f-8a2b-1c3d5e7f9a0b", pid: 4242, heartbeat_at: Time.now.utc,
              supervisor_id: nil)
    metadata = kind == "Worker" ? { polling_interval: 0.1, queues: "*", thread_pool_size: 3 } : {}
    self[:processes].create!(kind: kind, name: "#{kind.downcase}-#{SecureRandom.hex(10)}", pid: pid, hostname: hostname,
                             metadata: JSON.generate(metadata), last_heartbeat_at: heartbeat_at,
                             supervisor_id: supervisor_id).id
  end

  def worker(hostname:, pid:, heartbeat_at: Time.now.utc)
    supervisor = process(kind: "Supervisor(fork)", hostname: hostname, pid: pid - 1, heartbeat_at: heartbeat_at)
    process(hostname: hostname, pid: pid, heartbeat_at: heartbeat_at, supervisor_id: supervisor)
  end

  def pause(queue) = self[:pauses].create!(queue_name: queue)

  # As the scheduler persists a task of config/recurring.yml (`queue` nil:
  # the job class's).
  def recurring_task(key:, schedule:, queue: nil, class_name: "ReportJob", static: true)
    self[:recurring_tasks].create!(key: key, schedule: schedule, queue_name: queue, class_name: class_name,
                                   arguments: "[]", priority: 0, static: static)
  end

  # Between examples: an empty queue.
  def clear
    @models.each_value { |model| model.delete_all if model.table_exists? }
  end
end
