module MiddleManagement
  # Makes jobs that take a while, to watch the workforce follow the work:
  #   30.times { MiddleManagement::Slacker.delay.slack_for(10) }
  class Slacker
    def self.slack_for(seconds)
      sleep(Float(seconds))
      seconds
    end
  end
end
