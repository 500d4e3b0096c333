module MiddleManagement
  module Backends
    module Sidekiq
      # Prepended to Sidekiq::Client. Hooks never raise into Sidekiq.
      module ClientHook
        # Jobs Redis accepted from one push (payloads as built before the push).
        def self.pushed(jobs)
          agent = MiddleManagement.agent or return
          now = Time.now.to_f
          jobs.group_by { |job| job["queue"] }.each do |queue, queued|
            later = queued.filter_map { |job| job["at"] && job["at"].to_f - now }.select(&:positive?)
            agent.wake(queue, due_in: later.min) if later.any?
            agent.wake(queue) if later.size < queued.size
          end
        rescue StandardError => e
          agent&.log_failure("could not wake for a Sidekiq push", e)
        end

        private

        def raw_push(payloads)
          # Sidekiq deletes "at" from the payloads as it pushes them.
          jobs = payloads.map { |job| { "queue" => job["queue"], "at" => job["at"] } }
          result = super
          ClientHook.pushed(jobs) unless defined?(::Sidekiq::Testing) && ::Sidekiq::Testing.inline?
          result
        end
      end

      # Sidekiq server middleware.
      class ServerMiddleware
        # This process's running jobs (jid => queue), for the moment before its
        # heartbeat shows them. Each change is one Hash operation.
        @running = {}

        class << self
          attr_reader :running

          def started(job, queue)
            @running[job["jid"]] = queue
            MiddleManagement.agent&.wake(queue)
          rescue StandardError => e
            MiddleManagement.agent&.log_failure("could not wake for a Sidekiq job starting", e)
          end

          # `error`: what the job raised, if anything.
          def finished(job, queue, error)
            @running.delete(job["jid"])
            agent = MiddleManagement.agent or return
            retry_in = error && RetrySchedule.retry_in(job, error)
            agent.wake(job["retry_queue"] || queue, due_in: retry_in) if retry_in
            agent.wake(queue)
          rescue StandardError => e
            agent&.log_failure("could not wake for a Sidekiq job ending", e)
          end
        end

        def call(_worker, job, queue)
          ServerMiddleware.started(job, queue)
          started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException -- Sidekiq::Shutdown is not a StandardError
          error = e
          raise
        ensure
          MiddleManagement.agent&.job_done(queue, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) if started
          ServerMiddleware.finished(job, queue, error)
        end
      end
    end
  end
end
