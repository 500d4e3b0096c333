module MiddleManagement
  module Backends
    module DelayedJob
      # Callbacks on Delayed::Backend::ActiveRecord::Job: created, given back
      # (failed, rescheduled), done.
      module JobCallbacks
        def self.included(model)
          model.after_commit :middle_management_changed
        end

        private

        def middle_management_changed
          due_in = run_at && (run_at - ::Delayed::Job.db_time_now).to_f
          MiddleManagement.agent&.wake(queue, due_in: due_in&.positive? ? due_in : nil)
        rescue StandardError => e
          MiddleManagement.agent&.log_failure("could not wake for a Delayed Job change", e)
        end
      end
    end
  end
end
