require "middle_management/backends/active_job_events/after_commit"
require "middle_management/store/heartbeats"

module MiddleManagement
  module Backends
    # The hooks of the libraries that Rails apps reach only through Active
    # Job (GoodJob, Solid Queue): Active Job's own instrumentation, never
    # the libraries' internals. An enqueue wakes the pool of the job's queue
    # once the transaction around it commits (AfterCommit: a count before
    # then would not see the row, and a rolled-back job wakes no one); a job
    # starting in a worker says "this process is a worker" (it watches, and
    # beats under Heartbeats.process_name so that its busy jobs are known by
    # dyno); a job ending is timed and wakes a moment later (Runtime::Agent#wake_soon). Only jobs
    # whose adapter a registered backend claims (`backend.adapter?`) are
    # seen: Delayed Job's, Sidekiq's and Resque's have hooks of their own
    # and are not woken twice.
    #
    # An enqueue gains no SQL, network or lock here: the subscriber reads
    # the job and this thread's connection, if it has one, and wakes.
    module ActiveJobEvents
      ENQUEUES = %w[enqueue.active_job enqueue_at.active_job enqueue_all.active_job].freeze

      module_function

      # `backend`: responds to `adapter?(adapter)` and `model` (the
      # ActiveRecord class whose connection writes its jobs).
      def install(backend)
        (@backends ||= []) << backend unless @backends&.include?(backend)
        return if @subscribed

        @subscribed = true
        ENQUEUES.each { |event| ::ActiveSupport::Notifications.subscribe(event) { |*, payload| enqueued(payload) } }
        ::ActiveSupport::Notifications.subscribe("perform_start.active_job") { |*, payload| performing(payload) }
        ::ActiveSupport::Notifications.subscribe("perform.active_job") do |_name, started, finished, _id, payload|
          performed(payload, finished - started)
        end
      end

      def enqueued(payload)
        on_claimed(payload, "wake for an Active Job enqueue") do |agent, backend|
          jobs = payload[:jobs] || [payload[:job]] # enqueue_all (Rails 7.1+) carries many
          AfterCommit.run(backend.model) { jobs.each { |job| agent.wake(job.queue_name, due_in: due_in(job)) } }
        end
      end

      def performing(payload)
        on_claimed(payload, "note an Active Job job starting") do |agent|
          agent.watch
          name = Store::Heartbeats.process_name
          agent.register_worker(name) if name
          agent.wake(payload[:job].queue_name)
        end
      end

      # The library records the job's end after this event: a count now
      # would still see it running (Runtime::Agent#wake_soon). `seconds`:
      # how long it ran, as Active Job timed it.
      def performed(payload, seconds)
        on_claimed(payload, "note an Active Job job ending") do |agent|
          agent.job_done(payload[:job].queue_name, seconds.to_f)
          agent.wake_soon(payload[:job].queue_name)
        end
      end

      # Yields the agent and the backend that claims the event's adapter, if
      # both are there; nothing raises into Active Job.
      def on_claimed(payload, what)
        agent = MiddleManagement.agent or return
        backend = claimant(payload[:adapter]) or return
        yield agent, backend
      rescue StandardError => e
        agent&.log_failure("could not #{what}", e)
      end

      def claimant(adapter)
        adapter && @backends.find { |backend| backend.adapter?(adapter) }
      end

      # Seconds until a job enqueued for later is due (Rails 6.1 gives a
      # Float of epoch seconds, 7.1+ a Time); nil when it is due now.
      def due_in(job)
        at = job.scheduled_at or return nil
        seconds = at.to_f - Time.now.to_f
        seconds.positive? ? seconds : nil
      end
    end
  end
end
