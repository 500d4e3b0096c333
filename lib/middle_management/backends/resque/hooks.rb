module MiddleManagement
  module Backends
    module Resque
      # Prepended to Resque's singleton class.
      module EnqueueHook
        def push(queue, item)
          result = super
          MiddleManagement::Backends::Resque.wake(queue)
          result
        end
      end

      # Prepended to Resque::Job's singleton class.
      module DestroyHook
        def destroy(queue, klass, *args)
          destroyed = super
          MiddleManagement::Backends::Resque.wake(queue) if destroyed.is_a?(Integer) && destroyed.positive?
          destroyed
        end
      end

      # Prepended to Resque::Worker.
      module WorkerHook
        # Resque names a worker "host:pid:queues": on Heroku, the dyno.
        def hostname
          ENV["DYNO"] || super
        end

        # A draining worker takes no job; it sleeps its interval and asks again.
        def reserve
          MiddleManagement.draining? ? nil : super
        end

        def startup(*args, **options)
          super
        ensure
          MiddleManagement.watch
        end

        def working_on(job)
          result = super
          @middle_management_queue = job.queue
          @middle_management_started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          MiddleManagement::Backends::Resque.wake(job.queue)
          result
        end

        def done_working
          super
        ensure
          queue = @middle_management_queue
          @middle_management_queue = nil
          if queue
            ran = Process.clock_gettime(Process::CLOCK_MONOTONIC) - @middle_management_started
            MiddleManagement.agent&.job_done(queue.to_s, ran)
            MiddleManagement::Backends::Resque.wake(queue)
          end
        end
      end
    end
  end
end
